// Package onnx reads and writes ONNX models (onnx.proto's ModelProto, the
// protobuf wire format) as far as glipctl needs them.
//
// Write serialises a Model whose initializers are ckpt.Tensors, streaming
// their bytes (raw_data, little-endian) from the tensors' Data without
// holding them: the length of every message is computed up front. The
// fields of each message are written in field-number order, repeated
// scalars unpacked (as onnx's own serializer does for this proto2 file), so
// the same Model always gives the same bytes.
//
// Open reads a model lazily, as a checkpoint: its initializers become
// tensors whose Data reads the file (raw_data, or the packed float_data
// and double_data; varint-encoded integer data is decoded into memory, at
// most what the declared shape holds), and the opset, inputs, outputs,
// producer and metadata_props become the checkpoint's metadata. Every
// length and count is checked against the enclosing message before use;
// errors about the contents are *ckpt.FormatError. Initializers of a type
// glipctl has no dtype for, or whose data is in an external file, are
// listed in Checkpoint.Unsupported.
package onnx

import (
	"fmt"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// DataType is TensorProto.DataType.
type DataType int32

// The data types glipctl uses (onnx.proto's numbering).
const (
	Undefined DataType = 0
	Float     DataType = 1
	Uint8     DataType = 2
	Int8      DataType = 3
	Int16     DataType = 5
	Int32     DataType = 6
	Int64     DataType = 7
	Bool      DataType = 9
	Float16   DataType = 10
	Double    DataType = 11
	BFloat16  DataType = 16
)

var typeNames = map[DataType]string{
	Float: "float32", Uint8: "uint8", Int8: "int8", Int16: "int16", Int32: "int32", Int64: "int64",
	Bool: "bool", Float16: "float16", Double: "float64", BFloat16: "bfloat16",
}

// String returns the type's numpy-style name ("float32").
func (d DataType) String() string {
	if s, ok := typeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("type%d", int32(d))
}

// FromDType returns the ONNX type of a ckpt dtype (Q8_0 has none).
func FromDType(d ckpt.DType) (DataType, bool) {
	switch d {
	case ckpt.F32:
		return Float, true
	case ckpt.F16:
		return Float16, true
	case ckpt.BF16:
		return BFloat16, true
	case ckpt.F64:
		return Double, true
	case ckpt.I64:
		return Int64, true
	case ckpt.I32:
		return Int32, true
	case ckpt.I16:
		return Int16, true
	case ckpt.I8:
		return Int8, true
	case ckpt.U8:
		return Uint8, true
	case ckpt.Bool:
		return Bool, true
	}
	return Undefined, false
}

// DType returns the ckpt dtype of an ONNX type (Invalid when glipctl has
// none).
func (d DataType) DType() ckpt.DType {
	switch d {
	case Float:
		return ckpt.F32
	case Float16:
		return ckpt.F16
	case BFloat16:
		return ckpt.BF16
	case Double:
		return ckpt.F64
	case Int64:
		return ckpt.I64
	case Int32:
		return ckpt.I32
	case Int16:
		return ckpt.I16
	case Int8:
		return ckpt.I8
	case Uint8:
		return ckpt.U8
	case Bool:
		return ckpt.Bool
	}
	return ckpt.Invalid
}

// Model is a ModelProto.
type Model struct {
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	DocString       string
	Graph           Graph
	Opsets          []OperatorSet
	Metadata        []StringEntry
}

// OperatorSet is an OperatorSetIdProto: "" is the default ONNX domain.
type OperatorSet struct {
	Domain  string
	Version int64
}

// StringEntry is a StringStringEntryProto (one metadata_props pair).
type StringEntry struct{ Key, Value string }

// Graph is a GraphProto. Its initializers are written in this order, with
// the tensors' names, dtypes and shapes.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []*ckpt.Tensor
	DocString    string
	Inputs       []ValueInfo
	Outputs      []ValueInfo
}

// Node is a NodeProto.
type Node struct {
	Inputs  []string
	Outputs []string
	Name    string
	OpType  string
	Domain  string
	Attrs   []Attribute
}

// AttrType is AttributeProto.AttributeType.
type AttrType int32

// The attribute types Node uses.
const (
	AttrFloat  AttrType = 1
	AttrInt    AttrType = 2
	AttrString AttrType = 3
	AttrFloats AttrType = 6
	AttrInts   AttrType = 7
)

// Attribute is an AttributeProto of a scalar or list type.
type Attribute struct {
	Name   string
	Type   AttrType
	F      float32
	I      int64
	S      string
	Floats []float32
	Ints   []int64
}

// IntAttr, IntsAttr, FloatAttr and StringAttr make attributes.
func IntAttr(name string, v int64) Attribute { return Attribute{Name: name, Type: AttrInt, I: v} }

// IntsAttr makes an INTS attribute.
func IntsAttr(name string, v ...int64) Attribute {
	return Attribute{Name: name, Type: AttrInts, Ints: v}
}

// FloatAttr makes a FLOAT attribute.
func FloatAttr(name string, v float32) Attribute {
	return Attribute{Name: name, Type: AttrFloat, F: v}
}

// StringAttr makes a STRING attribute.
func StringAttr(name, v string) Attribute { return Attribute{Name: name, Type: AttrString, S: v} }

// Dim is one dimension of a ValueInfo's shape: a fixed size, or a symbolic
// one (Param, e.g. "N").
type Dim struct {
	Value int64
	Param string
}

func (d Dim) String() string {
	if d.Param != "" {
		return d.Param
	}
	return fmt.Sprint(d.Value)
}

// ValueInfo is a ValueInfoProto of a tensor type.
type ValueInfo struct {
	Name     string
	ElemType DataType
	Shape    []Dim
}

// String renders the value as "pixel_values float32 [N,3,224,224]".
func (v ValueInfo) String() string {
	s := make([]string, len(v.Shape))
	for i, d := range v.Shape {
		s[i] = d.String()
	}
	return fmt.Sprintf("%s %s [%s]", v.Name, v.ElemType, strings.Join(s, ","))
}
