package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
)

// raw builds GGUF bytes field by field, valid or not.
type raw struct{ bytes.Buffer }

func (r *raw) u32(v uint32) *raw { r.Write(binary.LittleEndian.AppendUint32(nil, v)); return r }
func (r *raw) u64(v uint64) *raw { r.Write(binary.LittleEndian.AppendUint64(nil, v)); return r }
func (r *raw) str(s string) *raw { r.u64(uint64(len(s))); r.WriteString(s); return r }
func (r *raw) pad(align int) *raw {
	for r.Len()%align != 0 {
		r.WriteByte(0)
	}
	return r
}

// head starts a file: magic, version, tensor and pair counts.
func head(version uint32, nt, nkv uint64) *raw {
	r := &raw{}
	r.WriteString("GGUF")
	return r.u32(version).u64(nt).u64(nkv)
}

// info appends a tensor info.
func (r *raw) info(name string, dims []uint64, typ GGMLType, off uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(uint32(typ)).u64(off)
}

// tensorsFile is a file with no pairs, the given infos and dataLen bytes
// of data after padding to 32.
func tensorsFile(dataLen int, infos func(r *raw), n uint64) []byte {
	r := head(3, n, 0)
	infos(r)
	r.pad(32)
	r.Write(make([]byte, dataLen))
	return r.Bytes()
}

// kvFile is a file with one pair whose key and type are given and whose
// value bytes are written by value.
func kvFile(key string, typ Type, value func(r *raw)) []byte {
	r := head(3, 0, 1)
	r.str(key).u32(uint32(typ))
	value(r)
	return r.Bytes()
}

func TestBadInput(t *testing.T) {
	f32 := func(name string, dims []uint64, off uint64) func(r *raw) {
		return func(r *raw) { r.info(name, dims, GGMLF32, off) }
	}
	both := func(a, b func(r *raw)) func(r *raw) { return func(r *raw) { a(r); b(r) } }
	deep := func(r *raw) {
		for i := 0; i < 20; i++ {
			r.u32(uint32(TypeArray)).u64(1)
		}
		r.u32(uint32(TypeUint8)).u64(0)
	}
	beHead := &raw{}
	beHead.WriteString("GGUF")
	beHead.Write([]byte{0, 0, 0, 3})
	beHead.u64(0).u64(0)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"not GGUF", append([]byte("GGML"), make([]byte, 20)...), "no GGUF magic"},
		{"version 1", head(1, 0, 0).Bytes(), "version 1 is not supported"},
		{"version 4", head(4, 0, 0).Bytes(), "unknown GGUF version 4"},
		{"big-endian", beHead.Bytes(), "big-endian"},
		{"huge tensor count", head(3, 1<<62, 0).Bytes(), "tensor count"},
		{"huge pair count", head(3, 0, 1<<62).Bytes(), "metadata pair count"},
		{"tensor count past EOF", head(3, 1000, 0).Bytes(), "cannot fit"},
		{"pair count past EOF", head(3, 0, 1000).Bytes(), "cannot fit"},
		{"huge key length", head(3, 0, 1).u64(1 << 62).u32(0).WriteByteAnd(0), "key length"},
		{"key past EOF", head(3, 0, 1).u64(100).u32(0).WriteByteAnd(0), "exceeds the 5 bytes left"},
		{"huge string length", kvFile("k", TypeString, func(r *raw) { r.u64(1 << 62) }), "string length"},
		{"string past EOF", kvFile("k", TypeString, func(r *raw) { r.u64(10).WriteString("abc") }), "exceeds the 3 bytes left"},
		{"huge array count", kvFile("k", TypeArray, func(r *raw) { r.u32(uint32(TypeUint8)).u64(1 << 62) }), "array length"},
		{"array past EOF", kvFile("k", TypeArray, func(r *raw) { r.u32(uint32(TypeUint32)).u64(3).u32(1).u32(2) }), "cannot fit"},
		{"array of huge strings", kvFile("k", TypeArray, func(r *raw) { r.u32(uint32(TypeString)).u64(2).u64(1 << 40).u64(0) }), "string length"},
		{"arrays nested too deep", kvFile("k", TypeArray, deep), "nested more than"},
		{"unknown value type", kvFile("k", 13, func(r *raw) { r.u32(0) }), "unknown value type 13"},
		{"unknown element type", kvFile("k", TypeArray, func(r *raw) { r.u32(77).u64(0) }), "unknown array element type 77"},
		{"value past EOF", kvFile("k", TypeUint64, func(r *raw) { r.u32(0) }), "file ends"},
		{"duplicate key", head(3, 0, 2).str("k").u32(uint32(TypeUint8)).u8(1).str("k").u32(uint32(TypeUint8)).WriteByteAnd(1), `"k" appears twice`},
		{"alignment not uint32", kvFile(alignmentKey, TypeUint64, func(r *raw) { r.u64(32) }), "want a uint32"},
		{"alignment 0", kvFile(alignmentKey, TypeUint32, func(r *raw) { r.u32(0) }), "not a power of two"},
		{"alignment 24", kvFile(alignmentKey, TypeUint32, func(r *raw) { r.u32(24) }), "not a power of two"},
		{"naming not a string", kvFile(NamingKey, TypeUint8, func(r *raw) { r.WriteByte(1) }), "want a string"},
		{"unknown naming", kvFile(NamingKey, TypeString, func(r *raw) { r.str("short-v9") }), `"short-v9"`},
		{"huge n_dims", tensorsFile(0, func(r *raw) { r.str("t").u32(1 << 31) }, 1), "dimensions"},
		{"5 dims", tensorsFile(0, func(r *raw) { r.info("t", []uint64{1, 1, 1, 1, 1}, GGMLF32, 0) }, 1), "5 dimensions"},
		{"dims past EOF", append(head(3, 1, 0).str("t").u32(4).u64(1).Bytes(), 0, 0, 0), "file ends"},
		{"huge name", tensorsFile(32, func(r *raw) { r.u64(1 << 40) }, 1), "name length"},
		{"name of 64 bytes", tensorsFile(4, f32(strings.Repeat("n", 64), []uint64{1}, 0), 1), "ggml allows 63"},
		{"dim over int64", tensorsFile(4, f32("t", []uint64{1 << 63}, 0), 1), "too large"},
		{"shape overflow", tensorsFile(4, f32("t", []uint64{1 << 32, 1 << 32}, 0), 1), "overflows"},
		{"byte size overflow", tensorsFile(4, f32("t", []uint64{1 << 62}, 0), 1), "overflow"},
		{"unknown ggml type", tensorsFile(32, func(r *raw) { r.info("t", []uint64{256}, 12, 0) }, 1), "unsupported ggml type Q4_K"},
		{"unnamed ggml type", tensorsFile(32, func(r *raw) { r.info("t", []uint64{1}, 99, 0) }, 1), "unsupported ggml type type 99"},
		{"Q8_0 rows not whole blocks", tensorsFile(68, func(r *raw) { r.info("t", []uint64{2, 32}, GGMLQ8_0, 0) }, 1), "whole blocks"},
		{"Q8_0 scalar", tensorsFile(68, func(r *raw) { r.info("t", nil, GGMLQ8_0, 0) }, 1), "whole blocks"},
		{"misaligned offset", tensorsFile(64, f32("t", []uint64{1}, 4), 1), "not a multiple of the alignment 32"},
		{"offset past data", tensorsFile(32, f32("t", []uint64{1}, 64), 1), "run past"},
		{"bytes past data", tensorsFile(32, f32("t", []uint64{9}, 0), 1), "run past"},
		{"huge offset", tensorsFile(32, f32("t", []uint64{1}, 1<<63), 1), "run past"},
		{"offset wraps", tensorsFile(32, f32("t", []uint64{8}, 1<<64-32), 1), "run past"},
		{"overlap", tensorsFile(64, both(f32("a", []uint64{16}, 0), f32("b", []uint64{1}, 32)), 2), "overlaps"},
		{"same offset", tensorsFile(64, both(f32("a", []uint64{1}, 0), f32("b", []uint64{1}, 0)), 2), "overlaps"},
		{"duplicate tensor", tensorsFile(64, both(f32("a", []uint64{1}, 0), f32("a", []uint64{1}, 32)), 2), `"a" appears twice`},
		{"bad short name", func() []byte {
			r := head(3, 1, 1).str(NamingKey).u32(uint32(TypeString)).str(NamingShortV1)
			r.info("backbone.norm1.bias", []uint64{1}, GGMLF32, 0).pad(32).Write(make([]byte, 32))
			return r.Bytes()
		}(), "not a short-v1 name"},
		{"escape of nothing", func() []byte {
			r := head(3, 1, 1).str(NamingKey).u32(uint32(TypeString)).str(NamingShortV1)
			r.info("~x", []uint64{1}, GGMLF32, 0).pad(32).Write(make([]byte, 32))
			return r.Bytes()
		}(), "not a short-v1 name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.file), int64(len(tc.file)), "bad.gguf")
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "bad.gguf: gguf: ") || strings.Contains(msg, "\n") {
				t.Errorf("error is not one line naming the file: %q", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not mention %q", msg, tc.want)
			}
		})
	}
}

func (r *raw) u8(b byte) *raw { r.WriteByte(b); return r }

// WriteByteAnd appends a byte and returns the bytes.
func (r *raw) WriteByteAnd(b byte) []byte { r.WriteByte(b); return r.Bytes() }

func TestLenientLayout(t *testing.T) {
	// Gaps, tensors out of offset order, empty tensors sharing an offset,
	// a file ending without the last tensor's padding, and a tensor-less
	// file that ends right after its header: all valid.
	r := head(2, 4, 0)
	r.info("b", []uint64{2}, GGMLF32, 64)
	r.info("a", []uint64{2}, GGMLI32, 0)
	r.info("e1", []uint64{0, 3}, GGMLF16, 64)
	r.info("e2", []uint64{0}, GGMLF16, 64)
	r.pad(32)
	r.Write([]byte{1, 0, 0, 0, 2, 0, 0, 0})
	r.Write(make([]byte, 56))
	r.Write(make([]byte, 8))
	f := mustRead(t, r.Bytes())
	if f.Version != 2 || len(f.Checkpoint.Tensors) != 4 {
		t.Fatalf("version %d, %d tensors", f.Version, len(f.Checkpoint.Tensors))
	}
	if got := ckpttest.ReadAll(t, f.Checkpoint.Tensor("a")); !bytes.Equal(got, []byte{1, 0, 0, 0, 2, 0, 0, 0}) {
		t.Fatalf("a = %v", got)
	}
	if s := f.Checkpoint.Tensor("e1").Shape; len(s) != 2 || s[0] != 3 || s[1] != 0 {
		t.Fatalf("e1 shape %v", s)
	}
	mustRead(t, head(3, 0, 1).str("k").u32(uint32(TypeBool)).WriteByteAnd(2))
}

func TestTruncated(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	ts := []*ckpt.Tensor{randTensor(t, rng, "a", ckpt.F32, 2, 3), randTensor(t, rng, "q", ckpt.Q8_0, 32), randTensor(t, rng, "s", ckpt.I64)}
	kvs := []KV{{"general.architecture", String("swin")}, {"n", Array(TypeArray, Array(TypeUint16, Uint16(1)))}, {"f", Float64(2)}}
	b := write(t, kvs, ts, WriteOptions{})
	// The last tensor's padding is optional; cutting into data is not.
	last := int(mustRead(t, b).DataOffset) + 32 + 64 + 8
	for n := 0; n < len(b); n++ {
		_, err := Read(bytes.NewReader(b[:n]), int64(n), "cut.gguf")
		if n < last && err == nil {
			t.Fatalf("truncated at %d of %d: no error", n, len(b))
		}
		if n >= last && err != nil {
			t.Fatalf("truncated in the final padding at %d: %v", n, err)
		}
	}
}

// q8Overflow is the 98-byte file of the issue: one Q8_0 tensor of shape
// [8718968878589280256], whose byte size count/32*34 overflows int64 and
// wrapped to a negative size that passed the bounds checks.
func q8Overflow() []byte {
	r := head(3, 1, 0).info("w", []uint64{8718968878589280256}, GGMLQ8_0, 0).pad(32)
	r.Write([]byte{0x00, 0x3c})
	r.Write(bytes.Repeat([]byte{1}, 32))
	return r.Bytes()
}

func TestQ8Overflow(t *testing.T) {
	b := q8Overflow()
	if len(b) != 98 {
		t.Fatalf("q8 file is %d bytes, want 98", len(b))
	}
	_, err := Read(bytes.NewReader(b), int64(len(b)), "q8.gguf")
	var fe *ckpt.FormatError
	if !errors.As(err, &fe) || fe.Format != ckpt.FormatGGUF || fe.File != "q8.gguf" || fe.Offset != 24 {
		t.Fatalf("Read = %v, want a gguf FormatError at the tensor info (offset 24)", err)
	}
	if !strings.Contains(err.Error(), "overflow") {
		t.Errorf("error %q does not say the size overflows", err)
	}
}

// TestSizesAtTheEdge reads one-tensor files of every supported type whose
// dimensions put the byte size just below and just above int64 (the 98-byte
// Q8_0 file is one of them): each must be refused, or read as a tensor whose
// bytes fit in the file.
func TestSizesAtTheEdge(t *testing.T) {
	for g, d := range ggmlToDType {
		per, unit := uint64(d.Size()), uint64(1)
		if d == ckpt.Q8_0 {
			per, unit = q8BlockBytes, ckpt.Q8Block
		}
		edge := (1<<63 - 1) / per * unit // the largest count whose bytes fit
		for k := uint64(0); k <= 8; k++ {
			for _, n := range []uint64{edge - k*unit, edge + k*unit, edge/unit*unit + k*unit} {
				for _, dims := range [][]uint64{{n}, {unit, n / unit}} {
					b := tensorsFile(64, func(r *raw) { r.info("t", dims, g, 0) }, 1)
					f, err := ReadFile(bytes.NewReader(b), int64(len(b)), "edge.gguf")
					if err != nil {
						continue
					}
					checkTensors(t, f.Checkpoint.Tensors, int64(len(b)))
				}
			}
		}
	}
}

// checkTensors is what the fuzz target asks of every tensor a reader
// accepts: a valid description whose element count and byte size agree,
// bytes that fit in the file, chunks that cover them exactly, and a ReadAll
// that returns them (never allocating beyond the file's size).
func checkTensors(t *testing.T, tensors []*ckpt.Tensor, fileSize int64) {
	t.Helper()
	for _, tt := range tensors {
		if err := tt.Check(); err != nil {
			t.Fatal(err)
		}
		numel, nbytes := tt.Numel(), tt.NBytes()
		if want, ok := tt.DType.Bytes(numel); !ok || want != nbytes || nbytes < 0 || nbytes > fileSize {
			t.Fatalf("tensor %q: %d elements, %d bytes in a %d-byte file", tt.Name, numel, nbytes, fileSize)
		}
		var sum, elems int64
		for _, c := range tt.Chunks(1 << 12) {
			if c.Off != sum || c.First != elems || c.Len <= 0 {
				t.Fatalf("tensor %q: chunk %+v after %d bytes", tt.Name, c, sum)
			}
			sum += c.Len
			elems += c.Count
		}
		if sum != nbytes || elems != numel {
			t.Fatalf("tensor %q: chunks cover %d bytes, %d elements; want %d, %d", tt.Name, sum, elems, nbytes, numel)
		}
		raw, err := tt.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(raw)) != nbytes {
			t.Fatalf("tensor %q: ReadAll gave %d bytes, want %d", tt.Name, len(raw), nbytes)
		}
	}
}

func FuzzRead(f *testing.F) {
	rng := rand.New(rand.NewSource(7))
	ts := []*ckpt.Tensor{randTensor(f, rng, "a", ckpt.F32, 2, 3), randTensor(f, rng, "q", ckpt.Q8_0, 32), randTensor(f, rng, "s", ckpt.BF16)}
	f.Add(write(f, sampleKVs(), ts, WriteOptions{}))
	// Infos whose byte sizes lie just below int64's limit (a Q8_0 size is
	// count/32*34: it overflows from about 0x7878787878787880 elements), a
	// bit flip or a small addition away from overflowing.
	big := func(typ GGMLType, dims ...uint64) []byte {
		return tensorsFile(64, func(r *raw) { r.info("t", dims, typ, 0) }, 1)
	}
	f.Add(big(GGMLQ8_0, 0x7800000000000000))
	f.Add(big(GGMLQ8_0, 32, 0x03c0000000000000))
	f.Add(big(GGMLF32, 0x1f00000000000000))
	f.Add(big(GGMLF64, 1<<31, 0x0f000000))
	f.Add(write(f, []KV{{"x", Array(TypeArray, Array(TypeString, String("y")))}}, ts[:1], WriteOptions{Alignment: 8, ShortNames: true}))
	f.Add(write(f, nil, []*ckpt.Tensor{randTensor(f, rng, "backbone.norm1.bias", ckpt.F16, 3)}, WriteOptions{ShortNames: true}))
	f.Add(head(2, 0, 0).Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ReadFile(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: gguf: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("bad error %q", err)
			}
			return
		}
		checkTensors(t, file.Checkpoint.Tensors, int64(len(b)))
		// What reads writes back, and reads back the same.
		var out bytes.Buffer
		kvs := make([]KV, 0, len(file.KVs))
		for _, kv := range file.KVs {
			if kv.Key != NamingKey && kv.Key != alignmentKey {
				kvs = append(kvs, kv)
			}
		}
		opts := WriteOptions{ShortNames: file.Naming != ""}
		if err := Write(&out, kvs, file.Checkpoint.Tensors, opts); err != nil {
			// Lenient reads that the strict writer refuses.
			for _, ok := range []string{"GGUF allows", "not a power of two", "too large"} {
				if strings.Contains(err.Error(), ok) {
					return
				}
			}
			t.Fatal(err)
		}
		again, err := ReadFile(bytes.NewReader(out.Bytes()), int64(out.Len()), "again")
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Checkpoint.Tensors) != len(file.Checkpoint.Tensors) {
			t.Fatal("tensor count changed")
		}
		for i, tt := range again.Checkpoint.Tensors {
			if tt.Name != file.Checkpoint.Tensors[i].Name {
				t.Fatalf("name %q became %q", file.Checkpoint.Tensors[i].Name, tt.Name)
			}
		}
	})
}
