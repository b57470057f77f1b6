package onnx

import (
	"bufio"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// Field numbers of onnx.proto.
const (
	modelIRVersion       = 1
	modelProducerName    = 2
	modelProducerVersion = 3
	modelDomain          = 4
	modelModelVersion    = 5
	modelDocString       = 6
	modelGraph           = 7
	modelOpsetImport     = 8
	modelMetadataProps   = 14

	opsetDomain  = 1
	opsetVersion = 2

	entryKey   = 1
	entryValue = 2

	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphDocString   = 10
	graphInput       = 11
	graphOutput      = 12

	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5
	nodeDomain    = 7

	attrName   = 1
	attrF      = 2
	attrI      = 3
	attrS      = 4
	attrFloats = 7
	attrInts   = 8
	attrType   = 20

	tensorDims         = 1
	tensorDataType     = 2
	tensorFloatData    = 4
	tensorInt32Data    = 5
	tensorInt64Data    = 7
	tensorName         = 8
	tensorRawData      = 9
	tensorDoubleData   = 10
	tensorUint64Data   = 11
	tensorDataLocation = 14

	valueName = 1
	valueType = 2

	typeTensor      = 1
	tensorElemType  = 1
	tensorShape     = 2
	shapeDim        = 1
	dimValue        = 1
	dimParam        = 2
	maxSmallMessage = 64 << 20 // bound on a message read into memory
	copyChunk       = 4 << 20
)

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendOptString writes s unless it is empty (an unset optional field).
func appendOptString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(b, num, s)
}

func encodeNode(n *Node) []byte {
	var b []byte
	for _, s := range n.Inputs {
		b = appendString(b, nodeInput, s)
	}
	for _, s := range n.Outputs {
		b = appendString(b, nodeOutput, s)
	}
	b = appendOptString(b, nodeName, n.Name)
	b = appendString(b, nodeOpType, n.OpType)
	for i := range n.Attrs {
		b = appendBytes(b, nodeAttribute, encodeAttr(&n.Attrs[i]))
	}
	b = appendOptString(b, nodeDomain, n.Domain)
	return b
}

func encodeAttr(a *Attribute) []byte {
	b := appendString(nil, attrName, a.Name)
	switch a.Type {
	case AttrFloat:
		b = protowire.AppendTag(b, attrF, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrInt:
		b = appendVarint(b, attrI, uint64(a.I))
	case AttrString:
		b = appendString(b, attrS, a.S)
	case AttrFloats:
		for _, f := range a.Floats {
			b = protowire.AppendTag(b, attrFloats, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(f))
		}
	case AttrInts:
		for _, v := range a.Ints {
			b = appendVarint(b, attrInts, uint64(v))
		}
	}
	return appendVarint(b, attrType, uint64(a.Type))
}

func encodeValueInfo(v *ValueInfo) []byte {
	var shape []byte
	for _, d := range v.Shape {
		var db []byte
		if d.Param != "" {
			db = appendString(nil, dimParam, d.Param)
		} else {
			db = appendVarint(nil, dimValue, uint64(d.Value))
		}
		shape = appendBytes(shape, shapeDim, db)
	}
	tt := appendVarint(nil, tensorElemType, uint64(v.ElemType))
	tt = appendBytes(tt, tensorShape, shape)
	typ := appendBytes(nil, typeTensor, tt)
	b := appendString(nil, valueName, v.Name)
	return appendBytes(b, valueType, typ)
}

// tensorHeader returns a TensorProto's fields up to and including raw_data's
// tag and length; the n data bytes follow.
func tensorHeader(t *ckpt.Tensor) ([]byte, int64, error) {
	dt, ok := FromDType(t.DType)
	if !ok {
		return nil, 0, fmt.Errorf("tensor %q: dtype %s has no ONNX type", t.Name, t.DType)
	}
	if err := t.Check(); err != nil {
		return nil, 0, err
	}
	var b []byte
	for _, d := range t.Shape {
		b = appendVarint(b, tensorDims, uint64(d))
	}
	b = appendVarint(b, tensorDataType, uint64(dt))
	b = appendString(b, tensorName, t.Name)
	n := t.NBytes()
	b = protowire.AppendTag(b, tensorRawData, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	return b, n, nil
}

// Write serialises m to w, streaming the initializers' data.
func Write(w io.Writer, m *Model) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	g := &m.Graph
	// The graph's parts, in field order, and its size.
	var pre []byte
	for i := range g.Nodes {
		pre = appendBytes(pre, graphNode, encodeNode(&g.Nodes[i]))
	}
	pre = appendOptString(pre, graphName, g.Name)
	heads := make([][]byte, len(g.Initializers))
	sizes := make([]int64, len(g.Initializers))
	gsize := int64(len(pre))
	seen := map[string]bool{}
	for i, t := range g.Initializers {
		if seen[t.Name] {
			return fmt.Errorf("initializer %q appears twice", t.Name)
		}
		seen[t.Name] = true
		h, n, err := tensorHeader(t)
		if err != nil {
			return err
		}
		heads[i], sizes[i] = h, n
		msg := int64(len(h)) + n
		gsize += int64(protowire.SizeTag(graphInitializer)) + int64(protowire.SizeVarint(uint64(msg))) + msg
	}
	var post []byte
	post = appendOptString(post, graphDocString, g.DocString)
	for i := range g.Inputs {
		post = appendBytes(post, graphInput, encodeValueInfo(&g.Inputs[i]))
	}
	for i := range g.Outputs {
		post = appendBytes(post, graphOutput, encodeValueInfo(&g.Outputs[i]))
	}
	gsize += int64(len(post))

	var hdr []byte
	hdr = appendVarint(hdr, modelIRVersion, uint64(m.IRVersion))
	hdr = appendOptString(hdr, modelProducerName, m.ProducerName)
	hdr = appendOptString(hdr, modelProducerVersion, m.ProducerVersion)
	hdr = appendOptString(hdr, modelDomain, m.Domain)
	if m.ModelVersion != 0 {
		hdr = appendVarint(hdr, modelModelVersion, uint64(m.ModelVersion))
	}
	hdr = appendOptString(hdr, modelDocString, m.DocString)
	hdr = protowire.AppendTag(hdr, modelGraph, protowire.BytesType)
	hdr = protowire.AppendVarint(hdr, uint64(gsize))
	hdr = append(hdr, pre...)
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	buf := make([]byte, 0, copyChunk)
	for i, t := range g.Initializers {
		msg := int64(len(heads[i])) + sizes[i]
		var th []byte
		th = protowire.AppendTag(th, graphInitializer, protowire.BytesType)
		th = protowire.AppendVarint(th, uint64(msg))
		th = append(th, heads[i]...)
		if _, err := bw.Write(th); err != nil {
			return err
		}
		for _, c := range t.Chunks(copyChunk) {
			buf = buf[:c.Len]
			if err := t.ReadChunk(c, buf); err != nil {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			if _, err := bw.Write(buf); err != nil {
				return err
			}
		}
	}
	var tail []byte
	tail = append(tail, post...)
	for _, o := range m.Opsets {
		var ob []byte
		ob = appendOptString(ob, opsetDomain, o.Domain)
		ob = appendVarint(ob, opsetVersion, uint64(o.Version))
		tail = appendBytes(tail, modelOpsetImport, ob)
	}
	for _, e := range m.Metadata {
		eb := appendString(nil, entryKey, e.Key)
		eb = appendString(eb, entryValue, e.Value)
		tail = appendBytes(tail, modelMetadataProps, eb)
	}
	if _, err := bw.Write(tail); err != nil {
		return err
	}
	return bw.Flush()
}
