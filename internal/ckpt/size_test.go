package ckpt

import (
	"errors"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMulAddSize checks the size helpers against math/big on the edges
// of int64.
func TestMulAddSize(t *testing.T) {
	vals := []int64{-1, 0, 1, 2, 32, 34, 1 << 31, 1<<32 + 1, 3037000499, 3037000500,
		8718968878589280256 / 32, 8718968878589280256, math.MaxInt64 / 2, math.MaxInt64 - 1, math.MaxInt64}
	max := big.NewInt(math.MaxInt64)
	for _, a := range vals {
		for _, b := range vals {
			ba, bb := big.NewInt(a), big.NewInt(b)
			wantOK := a >= 0 && b >= 0
			prod := new(big.Int).Mul(ba, bb)
			got, ok := MulSize(a, b)
			if want := wantOK && prod.Cmp(max) <= 0; ok != want || (ok && got != prod.Int64()) {
				t.Errorf("MulSize(%d, %d) = %d, %v; big says %s", a, b, got, ok, prod)
			}
			sum := new(big.Int).Add(ba, bb)
			got, ok = AddSize(a, b)
			if want := wantOK && sum.Cmp(max) <= 0; ok != want || (ok && got != sum.Int64()) {
				t.Errorf("AddSize(%d, %d) = %d, %v; big says %s", a, b, got, ok, sum)
			}
		}
	}
	if Within(math.MaxInt64-8, 16, math.MaxInt64) || !Within(8, 8, 16) || Within(9, 8, 16) {
		t.Error("Within is wrong at the edges")
	}
}

// TestQ8BytesOverflow is the element count of the 98-byte GGUF:
// its Q8_0 byte size (count/32*34) does not fit in int64.
func TestQ8BytesOverflow(t *testing.T) {
	const n = 8718968878589280256
	if b, ok := Q8_0.Bytes(n); ok {
		t.Fatalf("Q8_0.Bytes(%d) = %d, ok", n, b)
	}
	tn := &Tensor{Name: "w", DType: Q8_0, Shape: []int64{n}, Data: strings.NewReader("")}
	if err := tn.Check(); err == nil {
		t.Fatal("Check accepts the overflowing tensor")
	}
	if _, err := tn.ReadAll(); err == nil {
		t.Fatal("ReadAll accepts the overflowing tensor")
	}
	if c := tn.Chunks(1 << 22); c != nil {
		t.Fatalf("Chunks = %d chunks", len(c))
	}
}

func TestFormatError(t *testing.T) {
	inner := Atf(40, "tensor %q: too big", "w")
	err := WrapFormat(FormatGGUF, "m.gguf", errors.New("x"))
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Offset != -1 || fe.Format != FormatGGUF || fe.File != "m.gguf" {
		t.Fatalf("WrapFormat without At: %#v", err)
	}
	err = WrapFormat(FormatGGUF, "m.gguf", inner)
	if !errors.As(err, &fe) || fe.Offset != 40 {
		t.Fatalf("offset not taken from At: %#v", err)
	}
	if got, want := err.Error(), `m.gguf: gguf: tensor "w": too big (offset 40)`; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if again := WrapFormat(FormatSafetensors, "other", err); again != err {
		t.Error("a FormatError naming a file is wrapped again")
	}
	long := WrapFormat(FormatTorchZip, "x.pth", errors.New(strings.Repeat("a/", 400)+"end\nline"))
	if msg := long.Error(); len(msg) > 240 || strings.Contains(msg, "\n") || !strings.HasSuffix(msg, "end line") {
		t.Errorf("long message not abbreviated to one line: %d bytes %q", len(msg), msg)
	}
}

// TestOpenRegular opens a real FIFO (which a plain open would block on
// until a writer came), a directory, a device and a regular file.
func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.pth")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := OpenRegular(fifo); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "pipe.pth: is a named pipe") {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OpenRegular blocks on a FIFO")
	}
	for _, p := range []string{dir, "/dev/null"} {
		if _, _, err := OpenRegular(p); !errors.Is(err, ErrNotRegular) {
			t.Errorf("%s: %v, want ErrNotRegular", p, err)
		}
	}
	reg := filepath.Join(dir, "a.bin")
	os.WriteFile(reg, []byte("hello"), 0o600)
	f, size, err := OpenRegular(reg)
	if err != nil || size != 5 {
		t.Fatalf("regular file: %v, size %d", err, size)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
}

// TestSectionDataTruncated: a tensor whose file ends early (truncated
// after it was opened) reports the file, the format, the tensor once and
// the offset where the bytes ran out.
func TestSectionDataTruncated(t *testing.T) {
	file := strings.NewReader(strings.Repeat("x", 100))
	tn := &Tensor{Name: "w", DType: F32, Shape: []int64{96},
		Data: SectionData(file, Source{File: "m.pth", Format: FormatTorchZip}, "w", 64, 384)}
	_, err := tn.ReadAll()
	var fe *FormatError
	if !errors.As(err, &fe) || fe.File != "m.pth" || fe.Format != FormatTorchZip || fe.Offset != 100 {
		t.Fatalf("ReadAll: %#v", err)
	}
	if msg := err.Error(); strings.Count(msg, `"w"`) != 1 || !strings.HasPrefix(msg, "m.pth: pytorch-zip: ") {
		t.Errorf("message %q: want the file and format first and the tensor named once", msg)
	}
}

// TestBytesAtTheEdge compares DType.Bytes with exact arithmetic for every
// dtype on element counts around the point where the byte size leaves
// int64 (for Q8_0, count/32*34).
func TestBytesAtTheEdge(t *testing.T) {
	max := big.NewInt(math.MaxInt64)
	for d := F64; d <= Q8_0; d++ {
		per, unit := big.NewInt(int64(d.Size())), big.NewInt(1)
		if d == Q8_0 {
			per, unit = big.NewInt(q8BlockBytes), big.NewInt(Q8Block)
		}
		// edge: the largest count whose bytes fit, in whole units.
		edge := new(big.Int).Mul(new(big.Int).Div(max, per), unit)
		for k := int64(-256); k <= 256; k++ {
			n := new(big.Int).Add(edge, big.NewInt(k))
			if !n.IsInt64() || n.Sign() < 0 {
				continue
			}
			got, ok := d.Bytes(n.Int64())
			whole := new(big.Int).Mod(n, unit).Sign() == 0
			want := new(big.Int).Mul(new(big.Int).Div(n, unit), per)
			wantOK := whole && want.Cmp(max) <= 0
			if ok != wantOK || (ok && got != want.Int64()) {
				t.Errorf("%s.Bytes(%s) = %d, %v; exact: %s, fits %v", d, n, got, ok, want, wantOK)
			}
		}
	}
}
