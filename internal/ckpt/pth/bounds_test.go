package pth

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
)

// long pushes v with LONG1 (8 bytes, two's complement).
func (p *pk) long(v int64) *pk {
	p.op(0x8a, 8)
	binary.Write(&p.Buffer, binary.LittleEndian, v)
	return p
}

// viewDict is {"w": _rebuild_tensor_v2(storage(key, FloatStorage, numel), off, (n,), (stride,), False, OrderedDict())}.
func viewDict(key string, numel, off, n, stride int64) []byte {
	p := newPk()
	p.op('}').str("w")
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", "FloatStorage").str(key).str("cpu").long(numel).op('t', 'Q')
	p.long(off).long(n).op(0x85).long(stride).op(0x85).op(0x89)
	p.global("collections", "OrderedDict").op(')', 'R')
	p.op('t', 'R').op('s', '.')
	return p.Bytes()
}

// rawZip builds an archive whose data.pkl is given as raw entry bytes with
// the header's method, sizes and CRC as stated (true or not).
func rawZip(t *testing.T, method uint16, body []byte, usize uint64, crc uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "archive/data.pkl", Method: method,
		CompressedSize64: uint64(len(body)), UncompressedSize64: usize, CRC32: crc})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflate(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	fw, _ := flate.NewWriter(&out, flate.BestCompression)
	fw.Write(b)
	fw.Close()
	return out.Bytes()
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// overlapping is a torch zip whose second storage entry's central
// directory record points at the first entry's local header: two names,
// the same bytes.
func overlapping(t *testing.T) []byte {
	b := torchZip(t, stateDict("0", 4, 0, 4), map[string][]byte{"0": make([]byte, 16)})
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := zr.File[0].DataOffset()
	hdr0 := first - 30 - int64(len(zr.File[0].Name))
	// Central directory records: "PK\x01\x02", local header offset at +42.
	var cds []int
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("PK\x01\x02"))
		if j < 0 {
			break
		}
		cds = append(cds, i+j)
		i += j + 4
	}
	if len(cds) < 2 {
		t.Fatalf("%d central directory records", len(cds))
	}
	binary.LittleEndian.PutUint32(b[cds[1]+42:], uint32(hdr0))
	return b
}

// cdPastEOF is an archive whose end record places the central directory
// past the end of the file.
func cdPastEOF(t *testing.T) []byte {
	b := torchZip(t, []byte{0x80, 2, '}', '.'}, nil)
	i := bytes.LastIndex(b, []byte("PK\x05\x06"))
	binary.LittleEndian.PutUint32(b[i+16:], uint32(len(b)+100))
	return b
}

// TestBounds: hostile files are refused with a FormatError naming the file
// and the problem, quickly, allocating no more than a small multiple of
// the file's size.
func TestBounds(t *testing.T) {
	big := make([]byte, 1<<20) // 1 MiB of zeros: a pickle would need a STOP
	bomb := deflate(t, big)
	honest := append([]byte{0x80, 2, 'B'}, binary.LittleEndian.AppendUint32(nil, 1<<20)...)
	honest = append(append(honest, big...), '.')
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"stride 0, size 2^62", torchZip(t, viewDict("0", 1, 0, 1<<62, 0), map[string][]byte{"0": make([]byte, 4)}), "C-order byte size does not fit"},
		{"deflated data.pkl declaring 960 MB", rawZip(t, zip.Deflate, bomb, 960_000_000, 0), "larger than the limit of 67108864"},
		{"deflated data.pkl beyond deflate's ratio", rawZip(t, zip.Deflate, bomb[:100], 50<<20, 0), "cannot inflate to"},
		{"deflated data.pkl holding more than declared", rawZip(t, zip.Deflate, deflate(t, honest), 4096, crc32.ChecksumIEEE(honest)), "more than the 4096 bytes"},
		{"stored data.pkl sizes disagree", rawZip(t, zip.Store, []byte{0x80, 2, '}', '.'}, 1<<20, 0), "declares 1048576 uncompressed"},
		{"overlapping entries", overlapping(t), "archive/data.pkl (bytes"},
		{"central directory past EOF", cdPastEOF(t), "outside the file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = readBytes(tc.file, false) })
			var fe *ckpt.FormatError
			if !errors.As(err, &fe) || fe.File != "x.pth" || fe.Format != ckpt.FormatTorchZip {
				t.Fatalf("error %v (%T), want a pytorch-zip FormatError for x.pth", err, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "x.pth: pytorch-zip: ") || strings.Contains(msg, "\n") || len(msg) > 260 {
				t.Errorf("error %q: want one short line with %q", msg, tc.want)
			}
			if strings.Contains(msg, "negative offset") {
				t.Errorf("error %q does not say what is wrong", msg)
			}
			if limit := uint64(4*len(tc.file)) + 1<<20; n > limit {
				t.Errorf("allocated %d bytes reading a %d-byte file", n, len(tc.file))
			}
		})
	}
	// The overlap names both entries.
	_, err := readBytes(overlapping(t), false)
	if msg := err.Error(); !strings.Contains(msg, "archive/data.pkl") || !strings.Contains(msg, "archive/data/0") {
		t.Errorf("overlap error %q does not name both entries", msg)
	}
}

// TestExpandedLargerThanFile: an expanded view (stride 0) whose C-order
// bytes fit in int64 but exceed the file is listed as unsupported, not
// read, so that no reader allocates 4 TiB for a 300-byte file.
func TestExpandedLargerThanFile(t *testing.T) {
	b := torchZip(t, viewDict("0", 1, 0, 1<<40, 0), map[string][]byte{"0": make([]byte, 4)})
	c, err := readBytes(b, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tensors) != 0 || len(c.Unsupported) != 1 || c.Unsupported[0].Name != "w" || !strings.Contains(c.Unsupported[0].Reason, "larger than the") {
		t.Fatalf("tensors %v, unsupported %+v", c.Tensors, c.Unsupported)
	}
}

// cutAfter serves b until cut is set, then only its first cut bytes: a
// file truncated after it was opened.
type cutAfter struct {
	b   []byte
	cut int
}

func (c *cutAfter) ReadAt(p []byte, off int64) (int, error) {
	b := c.b
	if c.cut > 0 {
		b = b[:c.cut]
	}
	return bytes.NewReader(b).ReadAt(p, off)
}

// TestTruncatedSource: a tensor whose bytes are gone when it is read is
// reported as the source file's problem: its format, the tensor named once
// and the file offset where the bytes ran out.
func TestTruncatedSource(t *testing.T) {
	full, err := os.ReadFile(ckpttest.Fixture(t, "official_small.pth"))
	if err != nil {
		t.Fatal(err)
	}
	r := &cutAfter{b: full}
	c, err := Read(r, int64(len(full)), "src.pth", ckpt.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tn := c.Tensors[0]
	var fe *ckpt.FormatError
	r.cut = 1 // the file is gone: the error is at the tensor's first byte
	if _, err = tn.ReadAll(); !errors.As(err, &fe) || fe.Offset < 1 {
		t.Fatalf("ReadAll: %v, want a FormatError with the tensor's offset", err)
	}
	r.cut = int(fe.Offset) + 100 // 100 of its bytes are left
	_, err = tn.ReadAll()
	if !errors.As(err, &fe) || fe.File != "src.pth" || fe.Format != ckpt.FormatTorchZip || fe.Offset != int64(r.cut) {
		t.Fatalf("ReadAll: %v, want a pytorch-zip FormatError for src.pth at offset %d", err, r.cut)
	}
	if msg := err.Error(); strings.Count(msg, tn.Name) != 1 || !strings.Contains(msg, "truncated") {
		t.Errorf("error %q: want the tensor named once and the truncation said", msg)
	}
}

// TestLongKeyPath: an error deep in nested containers names the path by
// its first and last parts, in one short line.
func TestLongKeyPath(t *testing.T) {
	p := newPk()
	for range 200 {
		p.op('}').str("level")
	}
	p.op('N')
	for range 200 {
		p.op('s')
	}
	p.op('.')
	_, err := readBytes(torchZip(t, p.Bytes(), nil), false)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if len(msg) > 260 || !strings.Contains(msg, "level/level/...(") || !strings.Contains(msg, "nested more than") {
		t.Errorf("error of %d bytes %q: want the path's first and last parts", len(msg), msg)
	}
}

// TestUnsupportedMatchesTorch: testdata/unsupported.pth and
// unsupported_legacy.pth (made by torch) hold complex, quantized and sparse
// tensors; they are listed with their kind in file order, as torch.load
// reports them, and the rest reads (its tensors are checked against torch
// by TestFixturesMatchTorch), also with Strict (no global of theirs is
// refused).
func TestUnsupportedMatchesTorch(t *testing.T) {
	for _, name := range []string{"unsupported", "unsupported_legacy"} {
		var want struct {
			Unsupported []struct{ Name, Kind string } `json:"unsupported"`
		}
		b, err := os.ReadFile(ckpttest.Fixture(t, "expected/"+name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &want); err != nil || len(want.Unsupported) == 0 {
			t.Fatalf("%s expectation: %v, %d unsupported", name, err, len(want.Unsupported))
		}
		for _, strict := range []bool{false, true} {
			c, err := Open(ckpttest.Fixture(t, name+".pth"), ckpt.OpenOptions{Strict: strict})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(c.Warnings) != 0 {
				t.Errorf("%s: warnings %v", name, c.Warnings)
			}
			if len(c.Unsupported) != len(want.Unsupported) {
				t.Fatalf("%s: unsupported %+v, torch says %+v", name, c.Unsupported, want.Unsupported)
			}
			for i, w := range want.Unsupported {
				got := c.Unsupported[i]
				if got.Name != w.Name || !strings.HasPrefix(got.Reason, w.Kind+" tensor") {
					t.Errorf("%s: unsupported %d = %+v, torch says %s is %s", name, i, got, w.Name, w.Kind)
				}
			}
			if ws := c.UnsupportedWarnings(); len(ws) != len(want.Unsupported) || !strings.Contains(ws[0], want.Unsupported[0].Name) {
				t.Errorf("%s: warnings %v", name, ws)
			}
		}
	}
}
