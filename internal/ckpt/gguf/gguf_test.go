package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/x448/float16"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
)

var ggufDTypes = []ckpt.DType{ckpt.F32, ckpt.F16, ckpt.Q8_0, ckpt.I8, ckpt.I16, ckpt.I32, ckpt.I64, ckpt.F64, ckpt.BF16}

// randTensor returns an in-memory tensor of random bytes; float tensors get
// random finite values.
func randTensor(t testing.TB, rng *rand.Rand, name string, dt ckpt.DType, shape ...int64) *ckpt.Tensor {
	t.Helper()
	if shape == nil {
		shape = []int64{}
	}
	n, _ := ckpt.Numel(shape)
	nb, _ := dt.Bytes(n)
	raw := make([]byte, nb)
	rng.Read(raw)
	le := binary.LittleEndian
	for i := int64(0); i < n; i++ {
		v := rng.NormFloat64()
		switch dt {
		case ckpt.F32:
			le.PutUint32(raw[4*i:], math.Float32bits(float32(v)))
		case ckpt.F64:
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		case ckpt.F16:
			le.PutUint16(raw[2*i:], float16.Fromfloat32(float32(v)).Bits())
		case ckpt.BF16:
			le.PutUint16(raw[2*i:], uint16(math.Float32bits(float32(v))>>16))
		}
	}
	if dt == ckpt.Q8_0 { // finite f16 scales
		for b := 0; b < len(raw); b += q8BlockBytes {
			le.PutUint16(raw[b:], float16.Fromfloat32(float32(rng.Float64())/100).Bits())
		}
	}
	tt, err := ckpt.FromBytes(name, dt, shape, raw)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func sampleTensors(t testing.TB) []*ckpt.Tensor {
	rng := rand.New(rand.NewSource(1))
	var ts []*ckpt.Tensor
	for i, dt := range ggufDTypes {
		p := fmt.Sprintf("t%d.%s.", i, dt)
		if dt == ckpt.Q8_0 {
			ts = append(ts,
				randTensor(t, rng, p+"matrix", dt, 3, 64),
				randTensor(t, rng, p+"vector", dt, 32),
				randTensor(t, rng, p+"empty", dt, 0, 32),
				randTensor(t, rng, p+"4d", dt, 2, 1, 3, 32))
			continue
		}
		ts = append(ts,
			randTensor(t, rng, p+"matrix", dt, 3, 5),
			randTensor(t, rng, p+"scalar", dt),
			randTensor(t, rng, p+"empty", dt, 2, 0, 3),
			randTensor(t, rng, p+"4d", dt, 2, 1, 3, 2))
	}
	return ts
}

// sampleKVs has a value of every type, nested arrays and empty arrays.
func sampleKVs() []KV {
	return []KV{
		{"general.architecture", String("swin")},
		{"general.name", String("GLIP Swin-T \u00e9")},
		{"t.u8", Uint8(200)}, {"t.i8", Int8(-100)},
		{"t.u16", Uint16(60000)}, {"t.i16", Int16(-30000)},
		{"t.u32", Uint32(4000000000)}, {"t.i32", Int32(-2000000000)},
		{"t.f32", Float32(0.1)}, {"t.bool", Bool(true)}, {"t.false", Bool(false)},
		{"t.u64", Uint64(1 << 63)}, {"t.i64", Int64(-1 << 62)},
		{"t.f64", Float64(-1e-300)},
		{"t.empty", String("")},
		{"swin.depths", Array(TypeUint32, Uint32(2), Uint32(2), Uint32(6), Uint32(2))},
		{"t.strings", Array(TypeString, String("a"), String(""), String("c\"d"))},
		{"t.nested", Array(TypeArray, Array(TypeInt8, Int8(-1), Int8(2)), Array(TypeString, String("x")), Array(TypeBool))},
		{"t.f64s", Array(TypeFloat64, Float64(1.5), Float64(-2))},
		{"t.empty_array", Array(TypeFloat32)},
	}
}

func write(t testing.TB, kvs []KV, ts []*ckpt.Tensor, opts WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, kvs, ts, opts); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustRead(t testing.TB, b []byte) *File {
	t.Helper()
	f, err := ReadFile(bytes.NewReader(b), int64(len(b)), "mem.gguf")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sameKVs(t *testing.T, got, want []KV) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d pairs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || !got[i].Value.Equal(want[i].Value) {
			t.Fatalf("pair %d: got %s=%s (%s), want %s=%s (%s)", i, got[i].Key, got[i].Value, got[i].Value.Type(),
				want[i].Key, want[i].Value, want[i].Value.Type())
		}
	}
}

func TestRoundTrip(t *testing.T) {
	ts := sampleTensors(t)
	kvs := sampleKVs()
	b := write(t, kvs, ts, WriteOptions{})
	if b2 := write(t, kvs, ts, WriteOptions{}); !bytes.Equal(b, b2) {
		t.Error("two writes differ")
	}
	if len(b)%DefaultAlign != 0 {
		t.Errorf("file is %d bytes, not padded to the alignment", len(b))
	}
	f := mustRead(t, b)
	if f.Version != 3 || f.Alignment != DefaultAlign || f.DataOffset%DefaultAlign != 0 {
		t.Errorf("version %d alignment %d data offset %d", f.Version, f.Alignment, f.DataOffset)
	}
	// A Q8_0 tensor among them: the specification's
	// general.quantization_version follows the given pairs.
	sameKVs(t, f.KVs, append(append([]KV(nil), kvs...), KV{"general.quantization_version", Uint32(QuantizationVersion)}))
	c := f.Checkpoint
	if c.Format != ckpt.FormatGGUF || c.Path != "mem.gguf" {
		t.Errorf("format %q path %q", c.Format, c.Path)
	}
	ckpttest.SameTensors(t, "round trip", c.Tensors, ts)
	for i, ti := range f.Infos {
		want := ts[i].Shape
		if len(ti.Dims) != len(want) {
			t.Fatalf("%q: dims %v for shape %v", ti.Name, ti.Dims, want)
		}
		for j, d := range ti.Dims {
			if int64(d) != want[len(want)-1-j] {
				t.Fatalf("%q: dims %v are not shape %v reversed", ti.Name, ti.Dims, want)
			}
		}
		if ti.Offset%DefaultAlign != 0 {
			t.Errorf("%q: offset %d", ti.Name, ti.Offset)
		}
	}
	// Writing what was read gives the same file.
	if b3 := write(t, f.KVs, c.Tensors, WriteOptions{}); !bytes.Equal(b, b3) {
		t.Error("rewriting the read file changed it")
	}
	// Metadata renderings.
	for k, want := range map[string]string{
		"general.architecture": "swin", "t.u8": "200", "t.i8": "-100", "t.f32": "0.1", "t.bool": "true",
		"t.u64": "9223372036854775808", "t.f64": "-1e-300", "swin.depths": "[2, 2, 6, 2]",
		"t.strings": `["a", "", "c\"d"]`, "t.nested": `[[-1, 2], ["x"], []]`, "t.empty_array": "[]",
	} {
		if got := c.Metadata[k]; got != want {
			t.Errorf("Metadata[%q] = %q, want %q", k, got, want)
		}
	}
}

func TestValueAccessors(t *testing.T) {
	if v, ok := Int8(-3).Int(); !ok || v != -3 {
		t.Error("Int8")
	}
	if _, ok := Int8(-3).Uint(); ok {
		t.Error("Int8 as uint")
	}
	if v, ok := Uint64(math.MaxUint64).Uint(); !ok || v != math.MaxUint64 {
		t.Error("Uint64")
	}
	if v, ok := Float32(0.5).Float(); !ok || v != 0.5 {
		t.Error("Float32")
	}
	if v, ok := Bool(true).Bool(); !ok || !v {
		t.Error("Bool")
	}
	if v, ok := String("x").Str(); !ok || v != "x" {
		t.Error("String")
	}
	items := make([]Value, 20)
	for i := range items {
		items[i] = String(strings.Repeat("y", 100))
	}
	s := Array(TypeString, items...).String()
	if !strings.HasSuffix(s, ", ... (20 items)]") || strings.Count(s, `"`) != 16 || len(s) > 8*80 {
		t.Errorf("long array renders as %q", s)
	}
	// Nested arrays render in bounded space.
	v := Array(TypeString, items[:8]...)
	for d := 1; d < maxDepth; d++ {
		v = Array(TypeArray, v, v, v, v, v, v, v, v)
	}
	if s := v.String(); len(s) > 4*displayMax {
		t.Errorf("nested arrays render as %d bytes", len(s))
	}
}

func TestOpen(t *testing.T) {
	ts := sampleTensors(t)
	path := filepath.Join(t.TempDir(), "x.gguf")
	if err := os.WriteFile(path, write(t, nil, ts, WriteOptions{}), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Path != path || c.Closer == nil {
		t.Errorf("path %q closer %v", c.Path, c.Closer)
	}
	ckpttest.SameTensors(t, "round trip", c.Tensors, ts)
	if _, err := Open(filepath.Join(t.TempDir(), "missing.gguf")); err == nil {
		t.Error("opening a missing file succeeded")
	}
}

func TestAlignment(t *testing.T) {
	ts := sampleTensors(t)
	b := write(t, nil, ts, WriteOptions{Alignment: 64})
	f := mustRead(t, b)
	if f.Alignment != 64 || f.DataOffset%64 != 0 || len(b)%64 != 0 {
		t.Fatalf("alignment %d, data at %d, %d bytes", f.Alignment, f.DataOffset, len(b))
	}
	if v, ok := f.Lookup(alignmentKey); !ok || !v.Equal(Uint32(64)) {
		t.Fatalf("%s = %v", alignmentKey, v)
	}
	for _, ti := range f.Infos {
		if ti.Offset%64 != 0 {
			t.Fatalf("%q at %d", ti.Name, ti.Offset)
		}
	}
	ckpttest.SameTensors(t, "round trip", f.Checkpoint.Tensors, ts)
	// The alignment can come from the pairs instead.
	b2 := write(t, []KV{{alignmentKey, Uint32(64)}}, ts, WriteOptions{})
	if !bytes.Equal(b, b2) {
		t.Error("alignment from the pairs writes another file")
	}
}

func TestShortNames(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	var ts []*ckpt.Tensor
	for _, n := range swinNames([]int{1, 1, 18, 1}, []int{3}) {
		if strings.Contains(n, "stages.2.blocks.") && !strings.Contains(n, ".blocks.17.") {
			continue
		}
		ts = append(ts, randTensor(t, rng, n, ckpt.F32, 2))
	}
	ts = append(ts, randTensor(t, rng, "s0.b0.norm1.weight", ckpt.I8, 1), randTensor(t, rng, "other", ckpt.I8, 1))
	if err := Write(io.Discard, nil, ts, WriteOptions{}); err == nil || !strings.Contains(err.Error(), "ShortNames") {
		t.Fatalf("long names without ShortNames: error %v", err)
	}
	b := write(t, nil, ts, WriteOptions{ShortNames: true})
	f := mustRead(t, b)
	if f.Naming != NamingShortV1 {
		t.Fatalf("naming %q", f.Naming)
	}
	ckpttest.SameTensors(t, "round trip", f.Checkpoint.Tensors, ts)
	for i, tt := range f.Checkpoint.Tensors {
		stored := f.Infos[i].Name
		if len(stored) > MaxNameLen || stored != ShortName(tt.Name) {
			t.Errorf("%q stored as %q", tt.Name, stored)
		}
		if want := map[bool]string{true: "", false: stored}[stored == tt.Name]; tt.Stored != want {
			t.Errorf("%q: Stored %q, want %q", tt.Name, tt.Stored, want)
		}
	}
	if c := f.Checkpoint.Tensor("backbone.stages.2.blocks.17.attn.w_msa.relative_position_bias_table"); c == nil || c.Stored != "s2.b17.attn.rpb_table" {
		t.Errorf("largest name: %+v", c)
	}
	if c := f.Checkpoint.Tensor("s0.b0.norm1.weight"); c == nil || c.Stored != "~s0.b0.norm1.weight" {
		t.Errorf("escaped name: %+v", c)
	}
}

func TestQuantizeWrite(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var ts []*ckpt.Tensor
	for _, dt := range []ckpt.DType{ckpt.F32, ckpt.F16, ckpt.BF16, ckpt.F64} {
		ts = append(ts, randTensor(t, rng, "w."+dt.String(), dt, 4, 64))
	}
	ts = append(ts,
		randTensor(t, rng, "bias", ckpt.F32, 64),
		randTensor(t, rng, "table", ckpt.F32, 169, 3),
		randTensor(t, rng, "index", ckpt.I64, 49, 49),
		randTensor(t, rng, "q8", ckpt.Q8_0, 2, 32),
		randTensor(t, rng, "empty", ckpt.F32, 0, 32),
	)
	b := write(t, nil, ts, WriteOptions{Quantize: Q8Weights})
	f := mustRead(t, b)
	for i, got := range f.Checkpoint.Tensors {
		src := ts[i]
		if !reflect.DeepEqual(got.Shape, src.Shape) || got.Name != src.Name {
			t.Fatalf("%q: %v, want %v", got.Name, got.Shape, src.Shape)
		}
		wantQ := Q8Weights(src) || src.DType == ckpt.Q8_0
		if (got.DType == ckpt.Q8_0) != wantQ {
			t.Fatalf("%q stored as %s", src.Name, got.DType)
		}
		if !wantQ || src.DType == ckpt.Q8_0 {
			if !bytes.Equal(ckpttest.ReadAll(t, got), ckpttest.ReadAll(t, src)) {
				t.Fatalf("%q: bytes changed", src.Name)
			}
			continue
		}
		vals, err := src.Float32()
		if err != nil {
			t.Fatal(err)
		}
		want, err := Quantize(nil, vals)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ckpttest.ReadAll(t, got), want) {
			t.Fatalf("%q: Q8_0 bytes are not Quantize of the values", src.Name)
		}
		deq, err := got.Float32()
		if err != nil {
			t.Fatal(err)
		}
		checkQ8Error(t, src.Name, vals, deq)
	}
	// general.quantization_version is recorded when a tensor is stored
	// quantized (converted or copied), kept when given, and absent
	// otherwise.
	if v, ok := f.Lookup("general.quantization_version"); !ok || !v.Equal(Uint32(2)) {
		t.Errorf("quantized file: general.quantization_version = %v, %v; want uint32 2", v, ok)
	}
	for _, c := range []struct {
		name string
		ts   []*ckpt.Tensor
		opts WriteOptions
		kvs  []KV
		want bool
	}{
		{"float only", ts[:4], WriteOptions{}, nil, false},
		{"q8 copied", ts[7:8], WriteOptions{}, nil, true},
		{"converted", ts[:1], WriteOptions{Quantize: Q8Weights}, nil, true},
		{"given", ts[:1], WriteOptions{Quantize: Q8Weights}, []KV{{"general.quantization_version", Uint32(2)}}, true},
	} {
		f := mustRead(t, write(t, c.kvs, c.ts, c.opts))
		n := 0
		for _, kv := range f.KVs {
			if kv.Key == "general.quantization_version" {
				n++
			}
		}
		if n != map[bool]int{false: 0, true: 1}[c.want] {
			t.Errorf("%s: general.quantization_version %d times, want it %v", c.name, n, c.want)
		}
	}
	if err := Write(io.Discard, []KV{{"general.quantization_version", String("2")}}, ts[:1], WriteOptions{}); err == nil {
		t.Error("a string general.quantization_version was written")
	}
	// Quantizing everything fails on the tensors Q8_0 cannot hold.
	for _, bad := range ts[5:7] { // table (rows of 3), index (I64)
		err := Write(io.Discard, nil, []*ckpt.Tensor{bad}, WriteOptions{Quantize: func(*ckpt.Tensor) bool { return true }})
		if err == nil {
			t.Errorf("%q quantized", bad.Name)
		}
	}
}

// checkQ8Error checks |x - deq(q(x))| <= d/2 (plus f16 rounding of d) per
// block.
func checkQ8Error(t *testing.T, name string, vals, deq []float32) {
	t.Helper()
	for b := 0; b < len(vals); b += 32 {
		amax := 0.0
		for _, v := range vals[b : b+32] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		d := amax / 127
		for j := b; j < b+32; j++ {
			if e := math.Abs(float64(vals[j]) - float64(deq[j])); e > d/2+amax*1e-3 {
				t.Fatalf("%q[%d]: %g dequantizes to %g (block amax %g)", name, j, vals[j], deq[j], amax)
			}
		}
	}
}

func TestQuantize(t *testing.T) {
	q := func(x []float32) []byte {
		b, err := Quantize(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// A block with amax 127 has d = 1, id = 1: q is roundf(x), halves away
	// from zero (C's roundf), not to even.
	x := make([]float32, 32)
	copy(x, []float32{127, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49999997, -126.5, 3})
	b := q(x)
	if d := float16.Frombits(binary.LittleEndian.Uint16(b)).Float32(); d != 1 {
		t.Fatalf("scale %g, want 1", d)
	}
	want := []int8{127, 1, -1, 2, 3, -3, 0, -127, 3}
	for i, w := range want {
		if got := int8(b[2+i]); got != w {
			t.Errorf("q[%d] of %g = %d, want %d", i, x[i], got, w)
		}
	}
	// All zeros: d = 0, id = 0, q = 0.
	if b := q(make([]float32, 32)); !bytes.Equal(b, make([]byte, 34)) {
		t.Errorf("zeros quantize to %v", b)
	}
	// The largest magnitude maps to +-127; the scale is f16(amax/127).
	rng := rand.New(rand.NewSource(4))
	for k := 0; k < 1000; k++ {
		x := make([]float32, 64)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.Intn(8)-4)))
		}
		b := q(x)
		if len(b) != 68 {
			t.Fatalf("%d bytes for 2 blocks", len(b))
		}
		for blk := 0; blk < 2; blk++ {
			amax, at := float32(0), 0
			for i, v := range x[32*blk : 32*blk+32] {
				if a := float32(math.Abs(float64(v))); a > amax {
					amax, at = a, i
				}
			}
			got := b[34*blk:]
			if s := binary.LittleEndian.Uint16(got); s != float16.Fromfloat32(amax/127).Bits() {
				t.Fatalf("scale bits %04x for amax %g", s, amax)
			}
			if qa := int8(got[2+at]); qa != 127 && qa != -127 {
				t.Fatalf("amax element quantizes to %d", qa)
			}
		}
		deq := make([]float32, 64)
		if err := ckpt.DecodeFloat32(ckpt.Q8_0, b, deq); err != nil {
			t.Fatal(err)
		}
		checkQ8Error(t, "random", x, deq)
	}
	if _, err := Quantize(nil, make([]float32, 31)); err == nil {
		t.Error("31 values quantized")
	}
	// Non-finite input stays defined.
	x = make([]float32, 32)
	x[0], x[1] = float32(math.Inf(1)), float32(math.NaN())
	_ = q(x)
}

// patternReader serves a deterministic pattern of float32 values and
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
		o := off + int64(i)
		b[i] = byte(math.Float32bits(float32(o/4%1000)/100) >> (8 * (o % 4)))
	}
	return n, nil
}

func TestWriteStreams(t *testing.T) {
	const rows, cols = 5 << 10, 1 << 10 // 20 MiB of F32
	for _, quant := range []bool{false, true} {
		maxRead := 0
		big := &ckpt.Tensor{Name: "big", DType: ckpt.F32, Shape: []int64{rows, cols}, Data: patternReader{4 * rows * cols, &maxRead}}
		opts := WriteOptions{}
		if quant {
			opts.Quantize = Q8Weights
		}
		var out bytes.Buffer
		if err := Write(&out, nil, []*ckpt.Tensor{big}, opts); err != nil {
			t.Fatal(err)
		}
		if maxRead > ChunkBytes {
			t.Errorf("largest read %d bytes, more than a chunk", maxRead)
		}
		f := mustRead(t, out.Bytes())
		got := f.Checkpoint.Tensors[0]
		vals, err := big.Float32()
		if err != nil {
			t.Fatal(err)
		}
		if quant {
			want, _ := Quantize(nil, vals)
			if !bytes.Equal(ckpttest.ReadAll(t, got), want) {
				t.Error("streamed Q8_0 differs from Quantize of the whole tensor")
			}
		} else if !bytes.Equal(ckpttest.ReadAll(t, got), ckpttest.ReadAll(t, big)) {
			t.Error("streamed bytes differ")
		}
	}
}

func TestWriteErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	ok := randTensor(t, rng, "ok", ckpt.F32, 2)
	short := &ckpt.Tensor{Name: "short", DType: ckpt.F32, Shape: []int64{4}, Data: bytes.NewReader(make([]byte, 15))}
	q8odd := &ckpt.Tensor{Name: "q8odd", DType: ckpt.Q8_0, Shape: []int64{32, 2}, Data: bytes.NewReader(make([]byte, 68))}
	cases := []struct {
		name string
		kvs  []KV
		ts   []*ckpt.Tensor
		opts WriteOptions
		want string
	}{
		{"U8", nil, []*ckpt.Tensor{randTensor(t, rng, "u", ckpt.U8, 2)}, WriteOptions{}, "no type for U8"},
		{"BOOL", nil, []*ckpt.Tensor{randTensor(t, rng, "b", ckpt.Bool, 2)}, WriteOptions{}, "no type for BOOL"},
		{"long name", nil, []*ckpt.Tensor{randTensor(t, rng, strings.Repeat("n", 64), ckpt.F32)}, WriteOptions{}, "64 bytes"},
		{"long name kept by the scheme", nil, []*ckpt.Tensor{randTensor(t, rng, strings.Repeat("n", 64), ckpt.F32)}, WriteOptions{ShortNames: true}, "64 bytes"},
		{"5 dims", nil, []*ckpt.Tensor{randTensor(t, rng, "d5", ckpt.F32, 1, 1, 1, 1, 1)}, WriteOptions{}, "5 dimensions"},
		{"duplicate tensor", nil, []*ckpt.Tensor{ok, ok}, WriteOptions{}, "twice"},
		{"duplicate key", []KV{{"a", Uint8(1)}, {"a", Uint8(1)}}, nil, WriteOptions{}, "twice"},
		{"alignment 12", nil, nil, WriteOptions{Alignment: 12}, "power of two"},
		{"alignment 4", nil, nil, WriteOptions{Alignment: 4}, "power of two"},
		{"alignment too large", nil, nil, WriteOptions{Alignment: 1 << 30}, "power of two"},
		{"alignment key type", []KV{{alignmentKey, Uint64(32)}}, nil, WriteOptions{}, "want a uint32"},
		{"alignment key disagrees", []KV{{alignmentKey, Uint32(64)}}, nil, WriteOptions{Alignment: 32}, "options ask for 32"},
		{"naming key without option", []KV{{NamingKey, String(NamingShortV1)}}, nil, WriteOptions{}, "ShortNames"},
		{"unknown naming", []KV{{NamingKey, String("short-v9")}}, nil, WriteOptions{ShortNames: true}, "ShortNames"},
		{"array type mismatch", []KV{{"a", Array(TypeUint8, Uint8(1), Int8(1))}}, nil, WriteOptions{}, "holds a int8"},
		{"bad value type", []KV{{"a", Value{typ: 13}}}, nil, WriteOptions{}, "unknown value type 13"},
		{"bad element type", []KV{{"a", Array(Type(99))}}, nil, WriteOptions{}, "unknown array element type 99"},
		{"nested too deep", []KV{{"a", nest(maxDepth + 1)}}, nil, WriteOptions{}, "nested"},
		{"quantize an integer", nil, []*ckpt.Tensor{randTensor(t, rng, "i", ckpt.I32, 2, 32)}, WriteOptions{Quantize: func(*ckpt.Tensor) bool { return true }}, "cannot quantize I32"},
		{"quantize odd rows", nil, []*ckpt.Tensor{randTensor(t, rng, "r", ckpt.F32, 32, 3)}, WriteOptions{Quantize: func(*ckpt.Tensor) bool { return true }}, "whole blocks"},
		{"Q8_0 source with odd rows", nil, []*ckpt.Tensor{q8odd}, WriteOptions{}, "whole blocks"},
		{"short data", nil, []*ckpt.Tensor{ok, short}, WriteOptions{}, `"short"`},
		{"nil tensor", nil, []*ckpt.Tensor{nil}, WriteOptions{}, "nil"},
		{"no data", nil, []*ckpt.Tensor{{Name: "x", DType: ckpt.F32, Shape: []int64{1}}}, WriteOptions{}, "no data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(io.Discard, tc.kvs, tc.ts, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "gguf: ") {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func nest(depth int) Value {
	v := Array(TypeUint8)
	for i := 1; i < depth; i++ {
		v = Array(TypeArray, v)
	}
	return v
}

// failWriter fails after n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, fmt.Errorf("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteFails(t *testing.T) {
	ts := sampleTensors(t)
	full := write(t, sampleKVs(), ts, WriteOptions{})
	for _, n := range []int{0, 10, 1000, len(full) - 1} {
		if err := Write(&failWriter{n}, sampleKVs(), ts, WriteOptions{}); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("failing after %d bytes: %v", n, err)
		}
	}
}
