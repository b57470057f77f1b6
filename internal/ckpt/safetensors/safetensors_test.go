package safetensors_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
)

var allDTypes = []ckpt.DType{ckpt.F64, ckpt.F32, ckpt.F16, ckpt.BF16, ckpt.I64, ckpt.I32, ckpt.I16, ckpt.I8, ckpt.U8, ckpt.Bool}

// randTensor returns an in-memory tensor of random bytes (0/1 for BOOL).
func randTensor(t testing.TB, rng *rand.Rand, name string, dt ckpt.DType, shape ...int64) *ckpt.Tensor {
	t.Helper()
	if shape == nil {
		shape = []int64{}
	}
	n, _ := ckpt.Numel(shape)
	nb, _ := dt.Bytes(n)
	raw := make([]byte, nb)
	rng.Read(raw)
	if dt == ckpt.Bool {
		for i := range raw {
			raw[i] &= 1
		}
	}
	tt, err := ckpt.FromBytes(name, dt, shape, raw)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// sampleTensors covers every dtype, 0-d, empty and n-d tensors.
func sampleTensors(t testing.TB) []*ckpt.Tensor {
	rng := rand.New(rand.NewSource(1))
	var ts []*ckpt.Tensor
	for i, dt := range allDTypes {
		ts = append(ts,
			randTensor(t, rng, fmt.Sprintf("t%d.%s.matrix", i, dt), dt, 3, 5),
			randTensor(t, rng, fmt.Sprintf("t%d.%s.scalar", i, dt), dt),
			randTensor(t, rng, fmt.Sprintf("t%d.%s.empty", i, dt), dt, 2, 0, 3),
			randTensor(t, rng, fmt.Sprintf("t%d.%s.4d", i, dt), dt, 2, 1, 3, 2),
		)
	}
	return ts
}

func write(t testing.TB, ts []*ckpt.Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func read(t testing.TB, b []byte) *ckpt.Checkpoint {
	t.Helper()
	c, err := safetensors.Read(bytes.NewReader(b), int64(len(b)), "mem.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	ts := sampleTensors(t)
	meta := map[string]string{"format": "pt", "b": "x\"y<&>\u00e9", "a": ""}
	b := write(t, ts, meta)
	n := binary.LittleEndian.Uint64(b)
	if (8+n)%8 != 0 {
		t.Errorf("data starts at %d, not a multiple of 8", 8+n)
	}
	if b2 := write(t, ts, meta); !bytes.Equal(b, b2) {
		t.Error("two writes of the same tensors differ")
	}
	c := read(t, b)
	if c.Format != ckpt.FormatSafetensors || c.Path != "mem.safetensors" {
		t.Errorf("format %q path %q", c.Format, c.Path)
	}
	if !reflect.DeepEqual(c.Metadata, meta) {
		t.Errorf("metadata %v, want %v", c.Metadata, meta)
	}
	ckpttest.SameTensors(t, "round trip", c.Tensors, ts)
	// Reading again from what was read gives the same file.
	if b3 := write(t, c.Tensors, c.Metadata); !bytes.Equal(b, b3) {
		t.Error("rewriting the read tensors changed the file")
	}
}

func TestEmptyFile(t *testing.T) {
	b := write(t, nil, nil)
	c := read(t, b)
	if len(c.Tensors) != 0 || len(c.Metadata) != 0 {
		t.Fatalf("got %d tensors, %d metadata", len(c.Tensors), len(c.Metadata))
	}
}

func TestOpen(t *testing.T) {
	ts := sampleTensors(t)
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(path, write(t, ts, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Path != path {
		t.Errorf("path %q", c.Path)
	}
	ckpttest.SameTensors(t, "round trip", c.Tensors, ts)
	if _, err := safetensors.Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("opening a missing file succeeded")
	}
}

// rawFile builds a file from a header (used verbatim) and data.
func rawFile(hdr string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	return append(append(b, hdr...), data...)
}

func TestOffsetOrder(t *testing.T) {
	// Header order differs from data order; the reader returns data order.
	hdr := `{"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},` +
		`"e":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},` +
		`"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`
	c := read(t, rawFile(hdr, []byte{1, 2, 3, 4}))
	var names []string
	for _, tt := range c.Tensors {
		names = append(names, tt.Name)
	}
	if want := []string{"a", "e", "b"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("order %v, want %v", names, want)
	}
	if got := ckpttest.ReadAll(t, c.Tensor("b")); !bytes.Equal(got, []byte{3, 4}) {
		t.Fatalf("b = %v", got)
	}
}

func TestHeaderExtras(t *testing.T) {
	// Unknown fields are skipped, null metadata is no metadata, spaces pad.
	hdr := `{"__metadata__":null,"a":{"dtype":"BOOL","x":[{"y":1}],"shape":[],"data_offsets":[0,1]}}   `
	c := read(t, rawFile(hdr, []byte{1}))
	if len(c.Tensors) != 1 || c.Metadata != nil {
		t.Fatalf("%d tensors, metadata %v", len(c.Tensors), c.Metadata)
	}
}

func TestBadInput(t *testing.T) {
	tensorA := `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	data8 := make([]byte, 8)
	bigLen := binary.LittleEndian.AppendUint64(nil, 1000)
	tooBig := binary.LittleEndian.AppendUint64(nil, safetensors.MaxHeader+1)
	cases := []struct {
		name string
		file []byte
		want string // a part of the error
	}{
		{"empty file", nil, "too short"},
		{"7 bytes", []byte{1, 2, 3, 4, 5, 6, 7}, "too short"},
		{"header length past EOF", append(bigLen, "{}"...), "exceeds the 2 bytes"},
		{"header length over limit", append(tooBig, "{}"...), "exceeds the limit"},
		{"header length 0", rawFile("", nil), "too short for a JSON object"},
		{"header length 1", rawFile("{", nil), "too short for a JSON object"},
		{"header length one past EOF", append(binary.LittleEndian.AppendUint64(nil, 3), "{}"...), "exceeds"},
		{"not an object", rawFile(`[1, 2]`, nil), "does not start with '{'"},
		{"invalid JSON", rawFile(`{"a":}`, nil), "invalid JSON"},
		{"unterminated JSON", rawFile(`{"a":{"dtype":"F32"`, nil), "invalid JSON"},
		{"invalid UTF-8", rawFile("{\"\xff\":1}", nil), "UTF-8"},
		{"trailing data", rawFile(`{} {}`, nil), "after the JSON object"},
		{"trailing garbage", rawFile(`{}x`, nil), "JSON"},
		{"tensor not an object", rawFile(`{"a":[1]}`, nil), `tensor "a"`},
		{"duplicate tensor", rawFile(`{`+tensorA+`,`+tensorA+`}`, data8), `"a" twice`},
		{"duplicate metadata key", rawFile(`{"__metadata__":{"k":"1","k":"2"}}`, nil), `"k" twice`},
		{"duplicate metadata", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), "twice"},
		{"metadata not strings", rawFile(`{"__metadata__":{"k":1}}`, nil), "want a string"},
		{"metadata nested", rawFile(`{"__metadata__":{"k":{}}}`, nil), "want a string"},
		{"metadata array", rawFile(`{"__metadata__":["k"]}`, nil), "want an object"},
		{"unknown dtype U16", rawFile(`{"a":{"dtype":"U16","shape":[1],"data_offsets":[0,2]}}`, data8[:2]), `unsupported dtype "U16"`},
		{"unknown dtype F8", rawFile(`{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, data8[:1]), `"F8_E4M3"`},
		{"lower-case dtype", rawFile(`{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}`, data8), `"f32"`},
		{"Q8_0 dtype", rawFile(`{"a":{"dtype":"Q8_0","shape":[32],"data_offsets":[0,34]}}`, make([]byte, 34)), `"Q8_0"`},
		{"dtype not a string", rawFile(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, data8), "dtype is the number 4"},
		{"no dtype", rawFile(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, data8), "no dtype"},
		{"no shape", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, data8), "no shape"},
		{"no offsets", rawFile(`{"a":{"dtype":"F32","shape":[2]}}`, data8), "no data_offsets"},
		{"dtype twice", rawFile(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "dtype twice"},
		{"shape twice", rawFile(`{"a":{"dtype":"F32","shape":[2],"shape":[2],"data_offsets":[0,8]}}`, data8), "shape twice"},
		{"offsets twice", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"data_offsets":[0,8]}}`, data8), "data_offsets twice"},
		{"shape not array", rawFile(`{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, data8), "shape"},
		{"negative dim", rawFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, data8), "integers from 0"},
		{"fractional dim", rawFile(`{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, data8), "integers from 0"},
		{"exponent dim", rawFile(`{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}`, data8), "integers from 0"},
		{"huge dim", rawFile(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}`, data8), "integers from 0"},
		{"string dim", rawFile(`{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, data8), "want non-negative integers"},
		{"shape overflow", rawFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, data8), "overflows"},
		{"byte size overflow", rawFile(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}`, data8), "overflow"},
		{"too many dims", rawFile(`{"a":{"dtype":"F32","shape":[`+strings.Repeat("1,", safetensors.MaxDims)+`1],"data_offsets":[0,4]}}`, data8[:4]), "more than 64"},
		{"one offset", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}}`, data8), "want 2"},
		{"three offsets", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, data8), "more than 2"},
		{"negative offset", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, data8), "integers from 0"},
		{"end before begin", rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, data8), "end before they begin"},
		{"wrong byte length", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, data8), "needs 12"},
		{"wrong byte length for dtype", rawFile(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}`, data8), "needs 16"},
		{"offsets past EOF", rawFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, data8), "run past"},
		{"data past the tensors", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, data8), "cover 4"},
		{"gap at start", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, data8), "gap"},
		{"gap between", rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}`, data8[:5]), "gap"},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}`, data8[:6]), "overlap"},
		{"same range twice", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, data8[:4]), "overlap"},
		{"no tensors, some data", rawFile(`{}`, data8), "cover 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := safetensors.Read(bytes.NewReader(tc.file), int64(len(tc.file)), "bad.safetensors")
			checkErr(t, err, tc.want)
		})
	}
}

// checkErr checks that err is a one-line error naming the file and holding want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "bad.safetensors: ") || strings.Contains(msg, "\n") {
		t.Errorf("error is not one line naming the file: %q", msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not mention %q", msg, want)
	}
}

func TestTruncated(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	ts := []*ckpt.Tensor{
		randTensor(t, rng, "a", ckpt.F32, 2, 3),
		randTensor(t, rng, "b", ckpt.I64),
		randTensor(t, rng, "c", ckpt.BF16, 3),
	}
	b := write(t, ts, map[string]string{"k": "v"})
	for n := 0; n < len(b); n++ {
		_, err := safetensors.Read(bytes.NewReader(b[:n]), int64(n), "bad.safetensors")
		if err == nil {
			t.Fatalf("truncated at %d of %d: no error", n, len(b))
		}
	}
	// A reader that fails part way is reported too.
	_, err := safetensors.Read(failAfter{b, 10}, int64(len(b)), "bad.safetensors")
	checkErr(t, err, "reading the")
}

type failAfter struct {
	b []byte
	n int64
}

func (f failAfter) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.n {
		return 0, io.ErrUnexpectedEOF
	}
	return copy(p, f.b[off:]), nil
}

func TestWriteErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	ok := randTensor(t, rng, "ok", ckpt.F32, 2)
	q8 := &ckpt.Tensor{Name: "q", DType: ckpt.Q8_0, Shape: []int64{32}, Data: bytes.NewReader(make([]byte, 34))}
	short := &ckpt.Tensor{Name: "short", DType: ckpt.F32, Shape: []int64{4}, Data: bytes.NewReader(make([]byte, 15))}
	cases := []struct {
		name string
		ts   []*ckpt.Tensor
		meta map[string]string
		want string
	}{
		{"Q8_0", []*ckpt.Tensor{q8}, nil, "Q8_0 cannot be stored"},
		{"duplicate", []*ckpt.Tensor{ok, ok}, nil, "twice"},
		{"reserved name", []*ckpt.Tensor{{Name: "__metadata__", DType: ckpt.F32, Shape: []int64{}, Data: bytes.NewReader(make([]byte, 4))}}, nil, "reserved"},
		{"bad UTF-8 name", []*ckpt.Tensor{{Name: "\xff", DType: ckpt.F32, Shape: []int64{}, Data: bytes.NewReader(make([]byte, 4))}}, nil, "UTF-8"},
		{"bad UTF-8 metadata", []*ckpt.Tensor{ok}, map[string]string{"k": "\xfe"}, "UTF-8"},
		{"no data", []*ckpt.Tensor{{Name: "x", DType: ckpt.F32, Shape: []int64{1}}}, nil, "no data"},
		{"invalid dtype", []*ckpt.Tensor{{Name: "x", Shape: []int64{1}, Data: bytes.NewReader(nil)}}, nil, "invalid dtype"},
		{"negative shape", []*ckpt.Tensor{{Name: "x", DType: ckpt.U8, Shape: []int64{-1}, Data: bytes.NewReader(nil)}}, nil, "negative"},
		{"short data", []*ckpt.Tensor{ok, short}, nil, `"short"`},
		{"nil tensor", []*ckpt.Tensor{nil}, nil, "nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := safetensors.Write(io.Discard, tc.ts, tc.meta)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// patternReader serves a deterministic byte pattern of any length and
// records the largest read.
type patternReader struct {
	size    int64
	maxRead *int
}

func (p patternReader) ReadAt(b []byte, off int64) (int, error) {
	*p.maxRead = max(*p.maxRead, len(b))
	if off >= p.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.size-off))
	for i := 0; i < n; i++ {
		b[i] = byte((off + int64(i)) * 7)
	}
	return n, nil
}

func TestWriteStreams(t *testing.T) {
	maxRead := 0
	const numel = 5<<20 + 3 // 20 MiB of F32, not a whole number of chunks
	big := &ckpt.Tensor{Name: "big", DType: ckpt.F32, Shape: []int64{numel}, Data: patternReader{4 * numel, &maxRead}}
	var out bytes.Buffer
	if err := safetensors.Write(&out, []*ckpt.Tensor{big}, nil); err != nil {
		t.Fatal(err)
	}
	if maxRead > safetensors.ChunkBytes {
		t.Errorf("largest read %d bytes, more than a chunk (%d)", maxRead, safetensors.ChunkBytes)
	}
	c := read(t, out.Bytes())
	got := ckpttest.ReadAll(t, c.Tensors[0])
	for i, v := range got {
		if v != byte(i*7) {
			t.Fatalf("byte %d = %d, want %d", i, v, byte(i*7))
		}
	}
}

func FuzzRead(f *testing.F) {
	rng := rand.New(rand.NewSource(4))
	f.Add(write(f, []*ckpt.Tensor{randTensor(f, rng, "a", ckpt.F32, 2, 3), randTensor(f, rng, "b", ckpt.I8)}, map[string]string{"k": "v"}))
	f.Add(write(f, nil, nil))
	f.Add(rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, []byte{1, 2, 3, 4}))
	f.Add(rawFile(`{"a":{"dtype":"BOOL","shape":[0,5],"data_offsets":[0,0]},"__metadata__":null}`, nil))
	// Shapes and offsets one digit away from overflowing sizes.
	f.Add(rawFile(`{"a":{"dtype":"F64","shape":[1152921504606846976],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[3037000499,3037000499],"data_offsets":[9223372036854775807,8]}}`, make([]byte, 8)))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := safetensors.Read(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: safetensors: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("bad error %q", err)
			}
			return
		}
		// A file that reads has tensors whose bytes are all there and
		// tile the data section.
		total := int64(0)
		for _, tt := range c.Tensors {
			if err := tt.Check(); err != nil {
				t.Fatal(err)
			}
			nb := tt.NBytes()
			if want, ok := tt.DType.Bytes(tt.Numel()); !ok || want != nb || nb < 0 || nb > int64(len(b)) {
				t.Fatalf("tensor %q: %d elements, %d bytes in a %d-byte file", tt.Name, tt.Numel(), nb, len(b))
			}
			var sum int64
			for _, c := range tt.Chunks(1 << 12) {
				sum += c.Len
			}
			if sum != nb {
				t.Fatalf("tensor %q: chunks cover %d of %d bytes", tt.Name, sum, nb)
			}
			if raw, err := tt.ReadAll(); err != nil || int64(len(raw)) != nb {
				t.Fatalf("tensor %q: ReadAll: %d bytes, %v", tt.Name, len(raw), err)
			}
			total += nb
		}
		n := int64(binary.LittleEndian.Uint64(b))
		if total != int64(len(b))-8-n {
			t.Fatalf("tensors hold %d bytes, data section is %d", total, int64(len(b))-8-n)
		}
		// And it writes back to a file that reads the same.
		var out bytes.Buffer
		if err := safetensors.Write(&out, c.Tensors, c.Metadata); err != nil {
			t.Fatal(err)
		}
		c2, err := safetensors.Read(bytes.NewReader(out.Bytes()), int64(out.Len()), "again")
		if err != nil {
			t.Fatal(err)
		}
		if len(c2.Tensors) != len(c.Tensors) {
			t.Fatalf("%d tensors after rewriting, want %d", len(c2.Tensors), len(c.Tensors))
		}
	})
}
