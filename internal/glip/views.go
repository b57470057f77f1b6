package glip

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// The transforms of the ecosystem layouts (besides Kept, Renamed and
// Reordered).
const (
	Split    Transform = "split"    // one third of a fused qkv tensor
	Joined   Transform = "joined"   // query, key and value fused into qkv
	Reshaped Transform = "reshaped" // same values, another shape (relative_position_index)
	Permuted Transform = "permuted" // input channels of the patch embedding reversed (BGR <-> RGB)
	// Generated is a buffer the layout does not store, computed
	// (relative_position_index from its window).
	Generated Transform = "generated"
)

// renamed returns a copy of t named n (shape and data shared).
func renamed(t *ckpt.Tensor, n string) *ckpt.Tensor {
	out := *t
	out.Name, out.Stored = n, ""
	return &out
}

func renameTransform(from, to string) Transform {
	if from == to {
		return Kept
	}
	return Renamed
}

// toSlot makes the layout's tensor of slot s from canonical tensor t.
func toSlot(t *ckpt.Tensor, s Slot) (*ckpt.Tensor, Transform, error) {
	if s.Op == OpMerge && t.DType == ckpt.Q8_0 {
		t = dequantized(t) // Q8_0 blocks do not survive a reorder; f32 holds their values exactly
	}
	out := renamed(t, s.Name)
	switch s.Op {
	case OpMerge:
		// The canonical order is nn.Unfold's; the layout's GLIP's. A tensor
		// the remap reordered from GLIP's order is taken as it was.
		if mr, ok := t.Data.(*mergeReorder); ok && !mr.inverse {
			out.Data = mr.src.Data
			return out, Reordered, nil
		}
		mr, err := newMergeReorder(renamed(t, t.Name), true)
		if err != nil {
			return nil, "", err
		}
		out.Data = mr
		return out, Reordered, nil
	case OpQKV:
		if len(t.Shape) < 1 || len(t.Shape) > 2 || t.Shape[0]%3 != 0 {
			return nil, "", fmt.Errorf("tensor %q: a fused qkv tensor has shape %s, want (3*C, C) or (3*C)", t.Name, ckpt.ShapeString(t.Shape))
		}
		if t.DType == ckpt.Q8_0 && !q8Rows(t.Shape) {
			return nil, "", fmt.Errorf("tensor %q: a Q8_0 qkv tensor of shape %s cannot be split by rows (convert it to f32 first)", t.Name, ckpt.ShapeString(t.Shape))
		}
		shape := append([]int64{}, t.Shape...)
		shape[0] /= 3
		out.Shape = shape
		part := out.NBytes()
		out.Data = io.NewSectionReader(t.Data, int64(s.Part)*part, part)
		return out, Split, nil
	case OpFlatten:
		if len(t.Shape) != 2 {
			return nil, "", fmt.Errorf("tensor %q: relative_position_index has shape %s, want (N, N)", t.Name, ckpt.ShapeString(t.Shape))
		}
		out.Shape = []int64{t.Shape[0] * t.Shape[1]}
		return out, Reshaped, nil
	}
	return out, renameTransform(t.Name, s.Name), nil
}

// fromSlot makes canonical tensor canon from the layout's tensor t of
// slot s (not OpQKV: see joinQKV).
func fromSlot(t *ckpt.Tensor, s Slot, canon string) (*ckpt.Tensor, Transform, error) {
	if s.Op == OpMerge && t.DType == ckpt.Q8_0 {
		t = dequantized(t)
	}
	out := renamed(t, canon)
	switch s.Op {
	case OpMerge:
		mr, err := newMergeReorder(renamed(t, canon), false)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", t.Name, err)
		}
		out.Data = mr
		return out, Reordered, nil
	case OpFlatten:
		var n int64
		if len(t.Shape) == 1 {
			n = isqrt(t.Shape[0])
		}
		if n == 0 || n*n != t.Shape[0] {
			return nil, "", fmt.Errorf("tensor %q: flattened relative_position_index has shape %s, want (N*N)", t.Name, ckpt.ShapeString(t.Shape))
		}
		out.Shape = []int64{n, n}
		return out, Reshaped, nil
	}
	return out, renameTransform(t.Name, canon), nil
}

func isqrt(n int64) int64 {
	if n <= 0 {
		return 0
	}
	r := int64(1)
	for r*r <= n {
		r++
	}
	return r - 1
}

// joinQKV fuses query, key and value (each (C, C) or (C)) into the
// canonical qkv tensor named canon.
func joinQKV(canon string, parts [3]*ckpt.Tensor) (*ckpt.Tensor, error) {
	q := parts[0]
	for _, p := range parts[1:] {
		if p.DType != q.DType || ckpt.ShapeString(p.Shape) != ckpt.ShapeString(q.Shape) {
			return nil, fmt.Errorf("%s: %s is %s %s but %s is %s %s", canon, q.Name, q.DType, ckpt.ShapeString(q.Shape), p.Name, p.DType, ckpt.ShapeString(p.Shape))
		}
	}
	if len(q.Shape) < 1 || len(q.Shape) > 2 || q.DType == ckpt.Q8_0 && !q8Rows(q.Shape) {
		return nil, fmt.Errorf("%s: cannot fuse %s tensors of shape %s", canon, q.DType, ckpt.ShapeString(q.Shape))
	}
	for _, p := range parts {
		if err := p.Check(); err != nil {
			return nil, err
		}
	}
	shape := append([]int64{}, q.Shape...)
	shape[0] *= 3
	return &ckpt.Tensor{Name: canon, DType: q.DType, Shape: shape, Data: &concatReader{parts: parts[:], size: q.NBytes()}}, nil
}

// q8Rows tells whether a Q8_0 matrix of this shape splits into rows on
// block boundaries (its rows are whole 32-element blocks).
func q8Rows(shape []int64) bool {
	return len(shape) == 2 && shape[1]%ckpt.Q8Block == 0
}

// concatReader reads equal-sized tensors one after the other.
type concatReader struct {
	parts []*ckpt.Tensor
	size  int64 // bytes of each part
}

func (c *concatReader) ReadAt(p []byte, off int64) (int, error) {
	total := c.size * int64(len(c.parts))
	if off < 0 || off > total {
		return 0, fmt.Errorf("read at %d outside %d bytes", off, total)
	}
	n := 0
	for n < len(p) && off < total {
		i := off / c.size
		in := off - i*c.size
		want := min(int64(len(p)-n), c.size-in)
		k, err := c.parts[i].Data.ReadAt(p[n:n+int(want)], in)
		n += k
		off += int64(k)
		if int64(k) < want {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("tensor %q: %w", c.parts[i].Name, err)
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// channelReverse is the lazily computed patch-embedding weight (out, in,
// kh, kw) with its input channels in reverse order; it is its own
// inverse.
type channelReverse struct {
	src  *ckpt.Tensor
	once sync.Once
	data []byte
	err  error
}

func newChannelReverse(t *ckpt.Tensor) (*ckpt.Tensor, error) {
	if len(t.Shape) != 4 || t.Shape[1] < 1 {
		return nil, fmt.Errorf("tensor %q: patch embedding has shape %s, want (embed, channels, patch, patch)", t.Name, ckpt.ShapeString(t.Shape))
	}
	if t.DType == ckpt.Q8_0 {
		return nil, fmt.Errorf("tensor %q: cannot reverse the channels of a Q8_0 tensor", t.Name)
	}
	out := *t
	out.Data = &channelReverse{src: t}
	return &out, nil
}

func (c *channelReverse) ReadAt(p []byte, off int64) (int, error) {
	c.once.Do(func() {
		raw, err := c.src.ReadAll()
		if err != nil {
			c.err = err
			return
		}
		c.data = ReverseChannels(raw, c.src.Shape, c.src.DType.Size())
	})
	if c.err != nil {
		return 0, c.err
	}
	if off < 0 || off > int64(len(c.data)) {
		return 0, fmt.Errorf("tensor %q: read at %d outside %d bytes", c.src.Name, off, len(c.data))
	}
	n := copy(p, c.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ReverseChannels reverses axis 1 of a C-order (out, in, kh, kw) tensor
// of element size esize.
func ReverseChannels(raw []byte, shape []int64, esize int) []byte {
	out := make([]byte, len(raw))
	in := int(shape[1])
	plane := int(shape[2]*shape[3]) * esize
	for o := 0; o < int(shape[0]); o++ {
		base := o * in * plane
		for c := 0; c < in; c++ {
			copy(out[base+(in-1-c)*plane:base+(in-c)*plane], raw[base+c*plane:base+(c+1)*plane])
		}
	}
	return out
}

// dequantized is a Q8_0 tensor as F32 (exact: an f16 scale times an
// int8), computed on first read.
func dequantized(t *ckpt.Tensor) *ckpt.Tensor {
	out := *t
	out.DType = ckpt.F32
	out.Data = &lazyBytes{name: t.Name, compute: func() ([]byte, error) {
		v, err := t.Float32()
		if err != nil {
			return nil, err
		}
		raw := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
		}
		return raw, nil
	}}
	return &out
}

// lazyBytes is data computed on first read.
type lazyBytes struct {
	name    string
	compute func() ([]byte, error)
	once    sync.Once
	data    []byte
	err     error
}

func (l *lazyBytes) ReadAt(p []byte, off int64) (int, error) {
	l.once.Do(func() { l.data, l.err = l.compute() })
	if l.err != nil {
		return 0, l.err
	}
	if off < 0 || off > int64(len(l.data)) {
		return 0, fmt.Errorf("tensor %q: read at %d outside %d bytes", l.name, off, len(l.data))
	}
	n := copy(p, l.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
