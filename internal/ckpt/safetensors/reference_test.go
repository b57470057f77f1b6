package safetensors_test

import (
	"bytes"
	"reflect"
	"testing"

	ref "github.com/nlpodyssey/safetensors"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
)

// refDTypes maps glipctl's dtypes to the reference reader's.
var refDTypes = map[ckpt.DType]ref.DType{
	ckpt.F64: ref.F64, ckpt.F32: ref.F32, ckpt.F16: ref.F16, ckpt.BF16: ref.BF16,
	ckpt.I64: ref.I64, ckpt.I32: ref.I32, ckpt.I16: ref.I16, ckpt.I8: ref.I8,
	ckpt.U8: ref.U8, ckpt.Bool: ref.BOOL,
}

func refShape(s []int64) []uint64 {
	out := make([]uint64, len(s))
	for i, d := range s {
		out[i] = uint64(d)
	}
	return out
}

// TestReferenceReadsOurs reads what Write writes with
// github.com/nlpodyssey/safetensors, an independent implementation.
func TestReferenceReadsOurs(t *testing.T) {
	ts := sampleTensors(t)
	meta := map[string]string{"format": "pt", "glipctl.layout": "mmpretrain"}
	b := write(t, ts, meta)
	st, err := ref.Deserialize(b)
	if err != nil {
		t.Fatalf("reference reader refused our file: %v", err)
	}
	if st.Len() != len(ts) {
		t.Fatalf("reference reader found %d tensors, want %d", st.Len(), len(ts))
	}
	_, m, err := ref.ReadMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Metadata(), meta) {
		t.Errorf("reference metadata %v, want %v", m.Metadata(), meta)
	}
	for _, want := range ts {
		v, ok := st.Tensor(want.Name)
		if !ok {
			t.Fatalf("reference reader has no tensor %q", want.Name)
		}
		if v.DType() != refDTypes[want.DType] {
			t.Errorf("%q: reference dtype %s, want %s", want.Name, v.DType(), want.DType)
		}
		if !reflect.DeepEqual(v.Shape(), refShape(want.Shape)) {
			t.Errorf("%q: reference shape %v, want %v", want.Name, v.Shape(), want.Shape)
		}
		if !bytes.Equal(v.Data(), ckpttest.ReadAll(t, want)) {
			t.Errorf("%q: reference bytes differ", want.Name)
		}
	}
}

// TestWeReadReference reads a file written by the reference implementation.
func TestWeReadReference(t *testing.T) {
	views := map[string]view{}
	want := map[string]*ckpt.Tensor{}
	for _, tt := range sampleTensors(t) {
		views[tt.Name] = view{refDTypes[tt.DType], refShape(tt.Shape), ckpttest.ReadAll(t, tt)}
		want[tt.Name] = tt
	}
	meta := map[string]string{"format": "pt"}
	b, err := ref.Serialize(views, meta)
	if err != nil {
		t.Fatal(err)
	}
	c := read(t, b)
	if !reflect.DeepEqual(c.Metadata, meta) {
		t.Errorf("metadata %v, want %v", c.Metadata, meta)
	}
	if len(c.Tensors) != len(want) {
		t.Fatalf("read %d tensors, want %d", len(c.Tensors), len(want))
	}
	for _, g := range c.Tensors {
		w := want[g.Name]
		if w == nil {
			t.Fatalf("unexpected tensor %q", g.Name)
		}
		if g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) {
			t.Errorf("%q: %s %v, want %s %v", g.Name, g.DType, g.Shape, w.DType, w.Shape)
		}
		if !bytes.Equal(ckpttest.ReadAll(t, g), ckpttest.ReadAll(t, w)) {
			t.Errorf("%q: bytes differ", g.Name)
		}
	}
}

// view is a ref.View. (ref.NewTensorView takes a 0-d shape for 0
// elements, so it cannot make the scalars; its reader and writer handle them.)
type view struct {
	dt    ref.DType
	shape []uint64
	data  []byte
}

func (v view) DType() ref.DType { return v.dt }
func (v view) Shape() []uint64  { return v.shape }
func (v view) Data() []byte     { return v.data }
func (v view) DataLen() uint64  { return uint64(len(v.data)) }
