package ckpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Tensor is one named array of a checkpoint. Its bytes are not held: Data
// reads them on demand, so a checkpoint of any size can be listed without
// loading it.
type Tensor struct {
	// Name is the tensor's key path; container levels are joined by "/"
	// ("model/module.backbone.body.patch_embed.proj.weight").
	Name  string
	DType DType
	// Shape is in PyTorch order (outermost first).
	Shape []int64
	// Stored is the name as the file spells it, where that differs from
	// Name (GGUF's short names); empty otherwise.
	Stored string
	// Data reads the tensor's elements as little-endian, C-order bytes:
	// offset 0 is the first byte of element 0 and the readable length is
	// NBytes().
	Data io.ReaderAt
}

// Numel returns the number of elements (1 for a scalar).
func (t *Tensor) Numel() int64 {
	n, _ := Numel(t.Shape)
	return n
}

// NBytes returns the size of the tensor's C-order bytes.
func (t *Tensor) NBytes() int64 {
	n, _ := t.DType.Bytes(t.Numel())
	return n
}

// Check validates the tensor's description: a known dtype, a shape whose
// element count and byte size fit in int64, and a data source.
func (t *Tensor) Check() error {
	if !t.DType.Valid() {
		return fmt.Errorf("tensor %q: invalid dtype", t.Name)
	}
	n, ok := Numel(t.Shape)
	if !ok {
		return fmt.Errorf("tensor %q: shape %v is negative or overflows", t.Name, t.Shape)
	}
	if _, ok := t.DType.Bytes(n); !ok {
		return fmt.Errorf("tensor %q: %d elements of %s is not a valid byte size", t.Name, n, t.DType)
	}
	if t.Data == nil {
		return fmt.Errorf("tensor %q: no data", t.Name)
	}
	return nil
}

// ReadAll returns the tensor's C-order bytes.
func (t *Tensor) ReadAll() ([]byte, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	n := t.NBytes()
	if n > math.MaxInt {
		return nil, fmt.Errorf("tensor %q: %d bytes is too large", t.Name, n)
	}
	buf := make([]byte, n)
	if err := t.readFull(buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}

// Float32 returns the tensor's values converted to float32.
func (t *Tensor) Float32() ([]float32, error) {
	raw, err := t.ReadAll()
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.Numel())
	if err := DecodeFloat32(t.DType, raw, out); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return out, nil
}

// Float64 returns the tensor's values converted to float64.
func (t *Tensor) Float64() ([]float64, error) {
	raw, err := t.ReadAll()
	if err != nil {
		return nil, err
	}
	out := make([]float64, t.Numel())
	if err := DecodeFloat64(t.DType, raw, out); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return out, nil
}

// Chunk is a run of whole elements of a tensor.
type Chunk struct {
	First int64 // index of the first element
	Count int64 // number of elements
	Off   int64 // byte offset of the first element in the C-order bytes
	Len   int64 // byte length
}

// Chunks splits the tensor into runs of at most maxBytes bytes (at least one
// element, or one Q8_0 block), in order.
func (t *Tensor) Chunks(maxBytes int64) []Chunk {
	if t.Check() != nil {
		return nil
	}
	numel := t.Numel()
	unit := int64(1)
	unitBytes := int64(t.DType.Size())
	if t.DType == Q8_0 {
		unit, unitBytes = Q8Block, q8BlockBytes
	}
	if unitBytes <= 0 || numel == 0 {
		return nil
	}
	per := maxBytes / unitBytes
	if per < 1 {
		per = 1
	}
	units := numel / unit
	var out []Chunk
	for u := int64(0); u < units; u += per {
		n := min(per, units-u)
		out = append(out, Chunk{First: u * unit, Count: n * unit, Off: u * unitBytes, Len: n * unitBytes})
	}
	return out
}

// ReadChunk reads the bytes of c into buf (which must be c.Len long).
func (t *Tensor) ReadChunk(c Chunk, buf []byte) error {
	if int64(len(buf)) != c.Len {
		return fmt.Errorf("tensor %q: chunk buffer is %d bytes, want %d", t.Name, len(buf), c.Len)
	}
	return t.readFull(buf, c.Off)
}

// readFull reads len(buf) bytes of the tensor at off. A FormatError from
// the data source (which names the file, the tensor and the offset) is
// returned as it is; other errors are wrapped with the tensor's name.
func (t *Tensor) readFull(buf []byte, off int64) error {
	n, err := t.Data.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("tensor %q: reading %d bytes at %d: %w", t.Name, len(buf), off, err)
}

// FromBytes returns an in-memory tensor over raw (C-order, little-endian).
func FromBytes(name string, dt DType, shape []int64, raw []byte) (*Tensor, error) {
	t := &Tensor{Name: name, DType: dt, Shape: shape, Data: bytes.NewReader(raw)}
	if err := t.Check(); err != nil {
		return nil, err
	}
	if int64(len(raw)) != t.NBytes() {
		return nil, fmt.Errorf("tensor %q: %d bytes for shape %v of %s, want %d", name, len(raw), shape, dt, t.NBytes())
	}
	return t, nil
}

// FromFloat32 returns an in-memory F32 tensor holding vals.
func FromFloat32(name string, shape []int64, vals []float32) (*Tensor, error) {
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return FromBytes(name, F32, shape, raw)
}

// ShapeString formats a shape as "[3, 224, 224]".
func ShapeString(shape []int64) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d", d)
	}
	b.WriteByte(']')
	return b.String()
}
