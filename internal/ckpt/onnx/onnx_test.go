package onnx

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
)

func testModel(t testing.TB) *Model {
	t.Helper()
	w, _ := ckpt.FromFloat32("w", []int64{2, 3}, []float32{1, -2, 3.5, 0, 5, 6})
	idx, _ := ckpt.FromBytes("shape", ckpt.I64, []int64{2}, []byte{255, 255, 255, 255, 255, 255, 255, 255, 6, 0, 0, 0, 0, 0, 0, 0})
	h, _ := ckpt.FromBytes("half", ckpt.F16, []int64{}, []byte{0x00, 0x3c})
	return &Model{
		IRVersion: 8, ProducerName: "glipctl", ProducerVersion: "1.0",
		Graph: Graph{
			Name: "g",
			Nodes: []Node{
				{Inputs: []string{"x", "shape"}, Outputs: []string{"y"}, Name: "r", OpType: "Reshape"},
				{Inputs: []string{"y", "w"}, Outputs: []string{"z"}, OpType: "MatMul", Attrs: []Attribute{IntsAttr("perm", 1, 0), FloatAttr("epsilon", 1e-5), IntAttr("axis", -1), StringAttr("mode", "constant")}},
			},
			Initializers: []*ckpt.Tensor{w, idx, h},
			Inputs:       []ValueInfo{{Name: "x", ElemType: Float, Shape: []Dim{{Param: "N"}, {Value: 2}}}},
			Outputs:      []ValueInfo{{Name: "z", ElemType: Float, Shape: []Dim{{Param: "N"}, {Value: 3}}}},
		},
		Opsets:   []OperatorSet{{Version: 17}},
		Metadata: []StringEntry{{Key: "k", Value: "v"}, {Key: "semantics", Value: "glip"}},
	}
}

// TestRoundTrip: Read gives back what Write wrote (the Python reference
// reader is in internal/onnxgraph's TestONNXChecker).
func TestRoundTrip(t *testing.T) {
	m := testModel(t)
	var buf bytes.Buffer
	if err := Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	Write(&again, testModel(t))
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("two writes of the same model differ")
	}
	if !Detect(buf.Bytes()[:16]) {
		t.Error("Detect does not recognise a written model")
	}
	c, info, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "m.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != ckpt.FormatONNX || len(c.Tensors) != 3 || info.Nodes != 2 || info.IRVersion != 8 {
		t.Fatalf("read %s with %d tensors, %d nodes, ir %d", c.Format, len(c.Tensors), info.Nodes, info.IRVersion)
	}
	for i, want := range m.Graph.Initializers {
		got := c.Tensors[i]
		a, _ := got.ReadAll()
		b, _ := want.ReadAll()
		if got.Name != want.Name || got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(a, b) {
			t.Errorf("tensor %d: %s %s %v %x, wrote %s %s %v %x", i, got.Name, got.DType, got.Shape, a, want.Name, want.DType, want.Shape, b)
		}
	}
	for k, v := range map[string]string{
		"k": "v", "semantics": "glip", "onnx.ir_version": "8", "onnx.opset_import": "ai.onnx:17",
		"onnx.producer": "glipctl 1.0", "onnx.inputs": "x float32 [N,2]", "onnx.outputs": "z float32 [N,3]", "onnx.nodes": "2",
	} {
		if c.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, c.Metadata[k], v)
		}
	}
}

// TestReadRejects: truncations and corruptions of a valid file are errors
// (a *ckpt.FormatError), never a panic.
func TestReadRejects(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, testModel(t)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// Cut anywhere before the metadata (which may end at any entry).
	bare := testModel(t)
	bare.Metadata = nil
	var head bytes.Buffer
	Write(&head, bare)
	for n := 0; n < head.Len(); n++ {
		var fe *ckpt.FormatError
		if _, _, err := Read(bytes.NewReader(b[:n]), int64(n), "m.onnx"); !errors.As(err, &fe) || fe.File != "m.onnx" || fe.Format != ckpt.FormatONNX {
			t.Errorf("truncated to %d bytes: %v", n, err)
		}
	}
	bad := slices.Clone(b)
	bad[1] = 0 // ir_version 0
	var fe *ckpt.FormatError
	if _, _, err := Read(bytes.NewReader(bad), int64(len(bad)), "m.onnx"); !errors.As(err, &fe) {
		t.Errorf("ir_version 0: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	Write(&buf, testModel(f))
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _, err := Read(bytes.NewReader(b), int64(len(b)), "f.onnx")
		if err != nil {
			return
		}
		for _, tn := range c.Tensors {
			if tn.NBytes() <= 1<<20 {
				tn.ReadAll()
			}
		}
	})
}
