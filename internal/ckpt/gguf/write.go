package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// ChunkBytes is the size of the pieces in which Write reads tensor data.
// It is a multiple of 32 elements of every dtype, so Q8_0 conversion works
// on whole blocks.
const ChunkBytes = 4 << 20

// maxWriteAlign is the largest alignment Write accepts.
const maxWriteAlign = 1 << 20

// WriteOptions control Write.
type WriteOptions struct {
	// Alignment of the data section and of each tensor: a power of two from
	// 8 to 1 MiB. Zero means general.alignment from the KVs, or 32.
	// A value other than 32 is recorded as general.alignment.
	Alignment uint32
	// ShortNames stores tensor names in the short-v1 scheme (ShortName)
	// and records glipctl.naming = "short-v1", so that Read restores the
	// long names.
	ShortNames bool
	// Quantize picks the tensors to store as Q8_0 (converted from F64, F32,
	// F16 or BF16; rows, the innermost dimension, must be whole blocks of
	// 32). Nil stores every tensor in its own dtype. See Q8Weights.
	Quantize func(t *ckpt.Tensor) bool
}

// Q8Weights is the usual Quantize policy: float weight matrices (two or
// more dimensions) whose rows are whole Q8_0 blocks; vectors (norms, biases)
// and integer buffers keep their dtype.
func Q8Weights(t *ckpt.Tensor) bool {
	return len(t.Shape) >= 2 && q8Convertible(t) == nil
}

// q8Convertible tells why t cannot be converted to Q8_0, or nil.
func q8Convertible(t *ckpt.Tensor) error {
	switch t.DType {
	case ckpt.F64, ckpt.F32, ckpt.F16, ckpt.BF16:
	default:
		return fmt.Errorf("tensor %q: cannot quantize %s to Q8_0", t.Name, t.DType)
	}
	if len(t.Shape) == 0 || t.Shape[len(t.Shape)-1]%ckpt.Q8Block != 0 {
		return fmt.Errorf("tensor %q: shape %s: Q8_0 needs rows (the last dimension) of whole blocks of %d",
			t.Name, ckpt.ShapeString(t.Shape), ckpt.Q8Block)
	}
	return nil
}

// planned is one tensor as it will be written.
type planned struct {
	src    *ckpt.Tensor
	name   string // as stored
	dtype  ckpt.DType
	dims   []uint64 // innermost first
	nbytes int64
	offset int64 // in the data section
}

// Write writes a GGUF v3 file: the metadata pairs kvs (in the order given,
// then general.alignment, glipctl.naming and general.quantization_version
// when needed and absent), the
// tensor infos and the tensors (in the order given), each tensor at a
// multiple of the alignment and padded with zeros to the next one. The
// layout follows from the shapes alone, so the tensors are streamed in
// chunks of ChunkBytes. The output depends only on the arguments.
func Write(w io.Writer, kvs []KV, tensors []*ckpt.Tensor, opts WriteOptions) error {
	kvs, align, err := completeKVs(kvs, opts)
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	plan, err := layout(tensors, opts, int64(align))
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	kvs = withQuantizationVersion(kvs, plan)
	cw := &countWriter{w: bufio.NewWriterSize(w, 1<<16)}
	if err := writeHeader(cw, kvs, plan); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if err := cw.pad(int64(align)); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	dataStart := cw.n
	var cb convBuffers
	for _, p := range plan {
		if err := writeTensor(cw, p, &cb); err != nil {
			var fe *ckpt.FormatError
			if errors.As(err, &fe) {
				return err // the source's error, naming its file and format
			}
			return fmt.Errorf("gguf: %w", err)
		}
		if err := cw.pad(int64(align)); err != nil {
			return fmt.Errorf("gguf: %w", err)
		}
		if cw.n-dataStart != pad(p.offset+p.nbytes, int64(align)) {
			return fmt.Errorf("gguf: tensor %q: wrote %d bytes, planned %d", p.name, cw.n-dataStart-p.offset, p.nbytes)
		}
	}
	if err := cw.w.Flush(); err != nil {
		return fmt.Errorf("gguf: writing: %w", err)
	}
	return nil
}

// QuantizationVersion is the general.quantization_version Write records
// when a tensor is stored quantized: the version of ggml's quantization
// formats (GGML_QNT_VERSION), 2 since the Q4/Q5/Q8 block layouts of May
// 2023, the version llama.cpp's writers record.
const QuantizationVersion = 2

// quantizationVersionKey is required by the GGUF specification (ggml's
// docs/gguf.md, "Standardized key-value pairs") when any tensor is
// quantized.
const quantizationVersionKey = "general.quantization_version"

// withQuantizationVersion appends general.quantization_version to kvs when
// a planned tensor is quantized and the key is absent.
func withQuantizationVersion(kvs []KV, plan []planned) []KV {
	for _, kv := range kvs {
		if kv.Key == quantizationVersionKey {
			return kvs
		}
	}
	for _, p := range plan {
		if p.dtype == ckpt.Q8_0 {
			return append(kvs, KV{quantizationVersionKey, Uint32(QuantizationVersion)})
		}
	}
	return kvs
}

// completeKVs checks the metadata pairs and appends general.alignment and
// glipctl.naming where the options need them.
func completeKVs(kvs []KV, opts WriteOptions) ([]KV, uint32, error) {
	seen := make(map[string]bool, len(kvs))
	align := opts.Alignment
	out := make([]KV, 0, len(kvs)+2)
	for _, kv := range kvs {
		if seen[kv.Key] {
			return nil, 0, fmt.Errorf("metadata key %q given twice", kv.Key)
		}
		seen[kv.Key] = true
		if len(kv.Key) > maxKeyLen {
			return nil, 0, fmt.Errorf("metadata key %q...: %d bytes, at most %d", kv.Key[:32], len(kv.Key), maxKeyLen)
		}
		if err := checkValue(kv.Value, 0); err != nil {
			return nil, 0, fmt.Errorf("metadata %q: %w", kv.Key, err)
		}
		switch kv.Key {
		case alignmentKey:
			a, _ := kv.Value.Uint()
			if kv.Value.Type() != TypeUint32 {
				return nil, 0, fmt.Errorf("%s is a %s, want a uint32", alignmentKey, kv.Value.Type())
			}
			if align != 0 && uint32(a) != align {
				return nil, 0, fmt.Errorf("%s is %d but the options ask for %d", alignmentKey, a, align)
			}
			align = uint32(a)
		case quantizationVersionKey:
			if kv.Value.Type() != TypeUint32 {
				return nil, 0, fmt.Errorf("%s is a %s, want a uint32", quantizationVersionKey, kv.Value.Type())
			}
		case NamingKey:
			if s, ok := kv.Value.Str(); !ok || s != NamingShortV1 || !opts.ShortNames {
				return nil, 0, fmt.Errorf("%s is set to %q in the metadata; set WriteOptions.ShortNames instead", NamingKey, kv.Value.String())
			}
		}
		out = append(out, kv)
	}
	if align == 0 {
		align = DefaultAlign
	}
	if align&(align-1) != 0 || align%8 != 0 || align > maxWriteAlign {
		return nil, 0, fmt.Errorf("alignment %d is not a power of two from 8 to %d", align, maxWriteAlign)
	}
	if align != DefaultAlign && !seen[alignmentKey] {
		out = append(out, KV{alignmentKey, Uint32(align)})
	}
	if opts.ShortNames && !seen[NamingKey] {
		out = append(out, KV{NamingKey, String(NamingShortV1)})
	}
	return out, align, nil
}

// checkValue checks that a value can be written and read back: a known
// type, arrays of items of their element type, not nested too deep.
func checkValue(v Value, depth int) error {
	switch {
	case !v.typ.Valid():
		return fmt.Errorf("unknown value type %d", uint32(v.typ))
	case v.typ == TypeString && len(v.str) > maxStringLen:
		return fmt.Errorf("string of %d bytes, at most %d", len(v.str), maxStringLen)
	case v.typ != TypeArray:
		return nil
	case depth >= maxDepth:
		return fmt.Errorf("arrays nested more than %d deep", maxDepth)
	case !v.elem.Valid():
		return fmt.Errorf("unknown array element type %d", uint32(v.elem))
	}
	for i, it := range v.arr {
		if it.typ != v.elem {
			return fmt.Errorf("array of %s holds a %s at %d", v.elem, it.typ, i)
		}
		if err := checkValue(it, depth+1); err != nil {
			return fmt.Errorf("array item %d: %w", i, err)
		}
	}
	return nil
}

// layout checks the tensors and places them in the data section.
func layout(tensors []*ckpt.Tensor, opts WriteOptions, align int64) ([]planned, error) {
	plan := make([]planned, 0, len(tensors))
	seen := make(map[string]bool, len(tensors))
	off := int64(0)
	for _, t := range tensors {
		p, err := planTensor(t, opts)
		if err != nil {
			return nil, err
		}
		if seen[p.name] {
			return nil, fmt.Errorf("tensor %q given twice", p.name)
		}
		seen[p.name] = true
		if off > math.MaxInt64-p.nbytes-align {
			return nil, fmt.Errorf("tensor %q: the data section would overflow int64", t.Name)
		}
		p.offset = off
		off = pad(off+p.nbytes, align)
		plan = append(plan, p)
	}
	return plan, nil
}

func planTensor(t *ckpt.Tensor, opts WriteOptions) (planned, error) {
	if t == nil {
		return planned{}, errors.New("nil tensor")
	}
	if err := t.Check(); err != nil {
		return planned{}, err
	}
	p := planned{src: t, name: t.Name, dtype: t.DType}
	if opts.ShortNames {
		p.name = ShortName(t.Name)
	}
	if len(p.name) > MaxNameLen {
		return p, fmt.Errorf("tensor %q: stored name %q is %d bytes, GGUF allows %d (see WriteOptions.ShortNames)", t.Name, p.name, len(p.name), MaxNameLen)
	}
	if len(t.Shape) > MaxDims {
		return p, fmt.Errorf("tensor %q: %d dimensions, GGUF allows %d", t.Name, len(t.Shape), MaxDims)
	}
	if opts.Quantize != nil && t.DType != ckpt.Q8_0 && opts.Quantize(t) {
		if err := q8Convertible(t); err != nil {
			return p, err
		}
		p.dtype = ckpt.Q8_0
	}
	if _, ok := TypeOf(p.dtype); !ok {
		return p, fmt.Errorf("tensor %q: GGUF has no type for %s", t.Name, p.dtype)
	}
	if p.dtype == ckpt.Q8_0 && (len(t.Shape) == 0 || t.Shape[len(t.Shape)-1]%ckpt.Q8Block != 0) {
		return p, fmt.Errorf("tensor %q: Q8_0 shape %s: rows (the last dimension) must be whole blocks of %d", t.Name, ckpt.ShapeString(t.Shape), ckpt.Q8Block)
	}
	p.dims = make([]uint64, len(t.Shape))
	for i, d := range t.Shape {
		p.dims[len(t.Shape)-1-i] = uint64(d)
	}
	var ok bool
	if p.nbytes, ok = p.dtype.Bytes(t.Numel()); !ok {
		return p, fmt.Errorf("tensor %q: %d elements of %s is not a valid size", t.Name, t.Numel(), p.dtype)
	}
	return p, nil
}

func writeHeader(cw *countWriter, kvs []KV, plan []planned) error {
	cw.bytes([]byte("GGUF"))
	cw.u32(3)
	cw.u64(uint64(len(plan)))
	cw.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		cw.str(kv.Key)
		cw.u32(uint32(kv.Value.typ))
		writeValue(cw, kv.Value)
	}
	for _, p := range plan {
		cw.str(p.name)
		cw.u32(uint32(len(p.dims)))
		for _, d := range p.dims {
			cw.u64(d)
		}
		g, _ := TypeOf(p.dtype)
		cw.u32(uint32(g))
		cw.u64(uint64(p.offset))
	}
	return cw.err
}

func writeValue(cw *countWriter, v Value) {
	switch v.typ {
	case TypeString:
		cw.str(v.str)
	case TypeArray:
		cw.u32(uint32(v.elem))
		cw.u64(uint64(len(v.arr)))
		for _, it := range v.arr {
			writeValue(cw, it)
		}
	default:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v.bits)
		cw.bytes(b[:v.typ.size()])
	}
}

// convBuffers are reused across tensors.
type convBuffers struct {
	raw []byte
	f32 []float32
	q8  []byte
}

// writeTensor streams one tensor's bytes, converting to Q8_0 if planned.
func writeTensor(cw *countWriter, p planned, cb *convBuffers) error {
	t := p.src
	for _, c := range t.Chunks(ChunkBytes) {
		if int64(cap(cb.raw)) < c.Len {
			cb.raw = make([]byte, c.Len)
		}
		raw := cb.raw[:c.Len]
		if err := t.ReadChunk(c, raw); err != nil {
			return err
		}
		if p.dtype == t.DType {
			cw.bytes(raw)
			if cw.err != nil {
				return fmt.Errorf("writing tensor %q: %w", t.Name, cw.err)
			}
			continue
		}
		if int64(cap(cb.f32)) < c.Count {
			cb.f32 = make([]float32, c.Count)
		}
		vals := cb.f32[:c.Count]
		if err := ckpt.DecodeFloat32(t.DType, raw, vals); err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		var err error
		if cb.q8, err = Quantize(cb.q8[:0], vals); err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		cw.bytes(cb.q8)
		if cw.err != nil {
			return fmt.Errorf("writing tensor %q: %w", t.Name, cw.err)
		}
	}
	return nil
}

// countWriter writes little-endian fields, counting bytes and keeping the
// first error.
type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (cw *countWriter) bytes(b []byte) {
	if cw.err != nil {
		return
	}
	n, err := cw.w.Write(b)
	cw.n += int64(n)
	cw.err = err
}

func (cw *countWriter) u32(v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	cw.bytes(b[:])
}

func (cw *countWriter) u64(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	cw.bytes(b[:])
}

func (cw *countWriter) str(s string) {
	cw.u64(uint64(len(s)))
	cw.bytes([]byte(s))
}

var zeros [256]byte

// pad writes zeros up to the next multiple of align.
func (cw *countWriter) pad(align int64) error {
	for n := pad(cw.n, align) - cw.n; n > 0 && cw.err == nil; {
		k := min(n, int64(len(zeros)))
		cw.bytes(zeros[:k])
		n -= k
	}
	if cw.err != nil {
		return fmt.Errorf("writing: %w", cw.err)
	}
	return nil
}
