package onnx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// Info is what Open reads besides the tensors.
type Info struct {
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	Opsets          []OperatorSet
	Inputs, Outputs []ValueInfo
	Metadata        []StringEntry
	Nodes           int
	// Unsupported are the initializers left out of the tensors.
	Unsupported []ckpt.Unsupported
}

// unsupported is an initializer glipctl cannot represent.
type unsupported struct{ u ckpt.Unsupported }

func (e *unsupported) Error() string { return e.u.Name + ": " + e.u.Reason }

// Open opens the ONNX model at path as a checkpoint (see the package doc).
// The caller must Close it.
func Open(path string) (*ckpt.Checkpoint, error) {
	f, size, err := ckpt.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	c, _, err := Read(f, size, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.Closer = f
	return c, nil
}

// Read reads the ONNX model of the given size from r; name (usually the
// path) is used in errors and as Checkpoint.Path. Errors about the
// contents are *ckpt.FormatError.
func Read(r io.ReaderAt, size int64, name string) (*ckpt.Checkpoint, *Info, error) {
	rd := &reader{r: r}
	info, tensors, err := rd.model(0, size)
	if err != nil {
		return nil, nil, ckpt.WrapFormat(ckpt.FormatONNX, name, err)
	}
	c := &ckpt.Checkpoint{Path: name, Format: ckpt.FormatONNX, Tensors: tensors, Metadata: info.metadata(), Unsupported: info.Unsupported}
	return c, info, nil
}

// metadata renders the model's description as checkpoint metadata: the
// metadata_props as they are, the rest under "onnx.".
func (in *Info) metadata() map[string]string {
	m := map[string]string{}
	for _, e := range in.Metadata {
		m[e.Key] = e.Value
	}
	m["onnx.ir_version"] = strconv.FormatInt(in.IRVersion, 10)
	var ops []string
	for _, o := range in.Opsets {
		d := o.Domain
		if d == "" {
			d = "ai.onnx"
		}
		ops = append(ops, fmt.Sprintf("%s:%d", d, o.Version))
	}
	m["onnx.opset_import"] = strings.Join(ops, " ")
	if in.ProducerName != "" {
		m["onnx.producer"] = strings.TrimSpace(in.ProducerName + " " + in.ProducerVersion)
	}
	vi := func(vs []ValueInfo) string {
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = v.String()
		}
		return strings.Join(s, "; ")
	}
	m["onnx.inputs"] = vi(in.Inputs)
	m["onnx.outputs"] = vi(in.Outputs)
	m["onnx.nodes"] = strconv.Itoa(in.Nodes)
	return m
}

type reader struct {
	r   io.ReaderAt
	buf [2 * binary.MaxVarintLen64]byte
}

// field is one field of a message in the file: its number and wire type,
// the varint or fixed value, or the [off, off+n) span of a bytes field.
type field struct {
	num  protowire.Number
	typ  protowire.Type
	v    uint64
	off  int64
	n    int64
	next int64
}

// field reads the field at off, which must end by end.
func (rd *reader) field(off, end int64) (field, error) {
	bad := func(msg string) (field, error) { return field{}, ckpt.Atf(off, "%s", msg) }
	k := min(int64(len(rd.buf)), end-off)
	n, err := rd.r.ReadAt(rd.buf[:k], off)
	if n < int(k) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return field{}, fmt.Errorf("onnx: reading at %d: %w", off, err)
	}
	b := rd.buf[:k]
	num, typ, tl := protowire.ConsumeTag(b)
	if tl < 0 {
		return bad("bad field tag")
	}
	f := field{num: num, typ: typ}
	b = b[tl:]
	p := off + int64(tl)
	switch typ {
	case protowire.VarintType:
		v, l := protowire.ConsumeVarint(b)
		if l < 0 {
			return bad("bad varint")
		}
		f.v, f.next = v, p+int64(l)
	case protowire.Fixed32Type:
		if len(b) < 4 {
			return bad("truncated fixed32")
		}
		f.v, f.next = uint64(binary.LittleEndian.Uint32(b)), p+4
	case protowire.Fixed64Type:
		if len(b) < 8 {
			return bad("truncated fixed64")
		}
		f.v, f.next = binary.LittleEndian.Uint64(b), p+8
	case protowire.BytesType:
		v, l := protowire.ConsumeVarint(b)
		if l < 0 {
			return bad("bad length")
		}
		f.off = p + int64(l)
		if v > uint64(end-f.off) {
			return bad(fmt.Sprintf("field %d's length %d runs past its message", num, v))
		}
		f.n = int64(v)
		f.next = f.off + f.n
	default:
		return bad(fmt.Sprintf("field %d has unsupported wire type %d", num, typ))
	}
	return f, nil
}

// bytes reads a bytes field into memory (at most maxSmallMessage).
func (rd *reader) bytes(f field) ([]byte, error) {
	if f.n > maxSmallMessage {
		return nil, ckpt.Atf(f.off, "%s", fmt.Sprintf("field %d is %d bytes, more than a %d-byte message may be", f.num, f.n, maxSmallMessage))
	}
	b := make([]byte, f.n)
	if n, err := rd.r.ReadAt(b, f.off); n < len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("onnx: reading at %d: %w", f.off, err)
	}
	return b, nil
}

// each calls fn for each field of the message spanning [off, end).
func (rd *reader) each(off, end int64, fn func(field) error) error {
	for off < end {
		f, err := rd.field(off, end)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
		off = f.next
	}
	return nil
}

func (rd *reader) model(off, end int64) (*Info, []*ckpt.Tensor, error) {
	info := &Info{}
	var tensors []*ckpt.Tensor
	graphs := 0
	err := rd.each(off, end, func(f field) error {
		switch {
		case f.num == modelIRVersion && f.typ == protowire.VarintType:
			info.IRVersion = int64(f.v)
		case f.num == modelProducerName && f.typ == protowire.BytesType:
			b, err := rd.bytes(f)
			info.ProducerName = string(b)
			return err
		case f.num == modelProducerVersion && f.typ == protowire.BytesType:
			b, err := rd.bytes(f)
			info.ProducerVersion = string(b)
			return err
		case f.num == modelOpsetImport && f.typ == protowire.BytesType:
			b, err := rd.bytes(f)
			if err != nil {
				return err
			}
			var o OperatorSet
			err = eachBytes(b, f.off, func(num protowire.Number, typ protowire.Type, v uint64, s []byte) error {
				switch {
				case num == opsetDomain && typ == protowire.BytesType:
					o.Domain = string(s)
				case num == opsetVersion && typ == protowire.VarintType:
					o.Version = int64(v)
				}
				return nil
			})
			info.Opsets = append(info.Opsets, o)
			return err
		case f.num == modelMetadataProps && f.typ == protowire.BytesType:
			b, err := rd.bytes(f)
			if err != nil {
				return err
			}
			var e StringEntry
			err = eachBytes(b, f.off, func(num protowire.Number, typ protowire.Type, v uint64, s []byte) error {
				switch {
				case num == entryKey && typ == protowire.BytesType:
					e.Key = string(s)
				case num == entryValue && typ == protowire.BytesType:
					e.Value = string(s)
				}
				return nil
			})
			info.Metadata = append(info.Metadata, e)
			return err
		case f.num == modelGraph && f.typ == protowire.BytesType:
			graphs++
			ts, err := rd.graph(f.off, f.next, info)
			tensors = append(tensors, ts...)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if graphs == 0 {
		return nil, nil, ckpt.Atf(0, "%s", "no graph: not an ONNX model")
	}
	if info.IRVersion <= 0 {
		return nil, nil, ckpt.Atf(0, "%s", "no ir_version: not an ONNX model")
	}
	if len(info.Opsets) == 0 {
		return nil, nil, ckpt.Atf(end, "%s", "no opset_import")
	}
	return info, tensors, nil
}

func (rd *reader) graph(off, end int64, info *Info) ([]*ckpt.Tensor, error) {
	var tensors []*ckpt.Tensor
	seen := map[string]bool{}
	err := rd.each(off, end, func(f field) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case graphNode:
			info.Nodes++
		case graphInitializer:
			t, err := rd.tensor(f)
			var un *unsupported
			if errors.As(err, &un) {
				info.Unsupported = append(info.Unsupported, un.u)
				return nil
			}
			if err != nil {
				return err
			}
			if seen[t.Name] {
				return ckpt.Atf(f.off, "%s", fmt.Sprintf("initializer %q appears twice", t.Name))
			}
			seen[t.Name] = true
			tensors = append(tensors, t)
		case graphInput, graphOutput:
			b, err := rd.bytes(f)
			if err != nil {
				return err
			}
			v, err := decodeValueInfo(b, f.off)
			if err != nil {
				return err
			}
			if f.num == graphInput {
				info.Inputs = append(info.Inputs, v)
			} else {
				info.Outputs = append(info.Outputs, v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Graph inputs that are initializers (older IR versions list them) are
	// not model inputs.
	var ins []ValueInfo
	for _, v := range info.Inputs {
		if !seen[v.Name] {
			ins = append(ins, v)
		}
	}
	info.Inputs = ins
	return tensors, nil
}

// tensor reads an initializer's description; its data stays in the file
// unless stored as varints.
func (rd *reader) tensor(tf field) (*ckpt.Tensor, error) {
	t := &ckpt.Tensor{}
	var dt DataType
	var data *field
	var dataKind protowire.Number
	var varints []field
	external := false
	err := rd.each(tf.off, tf.next, func(f field) error {
		switch {
		case f.num == tensorDims && f.typ == protowire.VarintType:
			t.Shape = append(t.Shape, int64(f.v))
		case f.num == tensorDims && f.typ == protowire.BytesType: // packed
			b, err := rd.bytes(f)
			if err != nil {
				return err
			}
			for len(b) > 0 {
				v, n := protowire.ConsumeVarint(b)
				if n < 0 {
					return ckpt.Atf(f.off, "%s", "bad packed dims")
				}
				t.Shape = append(t.Shape, int64(v))
				b = b[n:]
			}
		case f.num == tensorDataType && f.typ == protowire.VarintType:
			dt = DataType(f.v)
		case f.num == tensorName && f.typ == protowire.BytesType:
			b, err := rd.bytes(f)
			t.Name = string(b)
			return err
		case (f.num == tensorRawData || f.num == tensorFloatData || f.num == tensorDoubleData) && f.typ == protowire.BytesType:
			ff := f
			data, dataKind = &ff, f.num
		case f.num == tensorFloatData && f.typ == protowire.Fixed32Type, f.num == tensorDoubleData && f.typ == protowire.Fixed64Type:
			return ckpt.Atf(f.off, "%s", "unpacked float_data/double_data is not supported")
		case f.num == tensorInt32Data || f.num == tensorInt64Data || f.num == tensorUint64Data:
			varints = append(varints, f)
		case f.num == tensorDataLocation && f.typ == protowire.VarintType && f.v == 1:
			external = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	bad := func(msg string, a ...any) error {
		return ckpt.Atf(tf.off, "%s", fmt.Sprintf("initializer %q: ", t.Name)+fmt.Sprintf(msg, a...))
	}
	if external {
		return nil, &unsupported{ckpt.Unsupported{Name: t.Name, Reason: "data in an external file"}}
	}
	t.DType = dt.DType()
	if t.DType == ckpt.Invalid {
		return nil, &unsupported{ckpt.Unsupported{Name: t.Name, Reason: fmt.Sprintf("ONNX data type %d", int32(dt))}}
	}
	numel, ok := ckpt.Numel(t.Shape)
	if !ok {
		return nil, bad("shape %v is negative or overflows", t.Shape)
	}
	nbytes, ok := t.DType.Bytes(numel)
	if !ok {
		return nil, bad("%d elements is too large", numel)
	}
	switch {
	case data != nil && dataKind == tensorRawData:
		if data.n != nbytes {
			return nil, bad("raw_data holds %d bytes, its shape %v of %s needs %d", data.n, t.Shape, t.DType, nbytes)
		}
		t.Data = io.NewSectionReader(rd.r, data.off, data.n)
	case data != nil && dataKind == tensorFloatData && (dt == Float):
		if data.n != nbytes {
			return nil, bad("float_data holds %d bytes, its shape %v needs %d", data.n, t.Shape, nbytes)
		}
		t.Data = io.NewSectionReader(rd.r, data.off, data.n)
	case data != nil && dataKind == tensorDoubleData && dt == Double:
		if data.n != nbytes {
			return nil, bad("double_data holds %d bytes, its shape %v needs %d", data.n, t.Shape, nbytes)
		}
		t.Data = io.NewSectionReader(rd.r, data.off, data.n)
	case data != nil:
		return nil, bad("field %d does not hold %s values", dataKind, dt)
	default:
		raw, err := rd.varintData(t, dt, varints, numel)
		if err != nil {
			return nil, bad("%v", err)
		}
		t.Data = bytes.NewReader(raw)
	}
	return t, nil
}

// varintData decodes int32_data/int64_data/uint64_data into the tensor's
// little-endian bytes; the values must be exactly the shape's count.
func (rd *reader) varintData(t *ckpt.Tensor, dt DataType, fs []field, numel int64) ([]byte, error) {
	size := int64(t.DType.Size())
	if numel*size > maxSmallMessage {
		return nil, fmt.Errorf("%d varint-encoded elements is more than glipctl reads into memory", numel)
	}
	raw := make([]byte, 0, numel*size)
	put := func(v uint64) error {
		if int64(len(raw)) >= numel*size {
			return fmt.Errorf("more values than its shape %v holds", t.Shape)
		}
		switch t.DType {
		case ckpt.I64:
			raw = binary.LittleEndian.AppendUint64(raw, v)
		case ckpt.I32:
			raw = binary.LittleEndian.AppendUint32(raw, uint32(v))
		case ckpt.I16, ckpt.F16, ckpt.BF16:
			raw = binary.LittleEndian.AppendUint16(raw, uint16(v))
		case ckpt.I8, ckpt.U8, ckpt.Bool:
			raw = append(raw, byte(v))
		default:
			return fmt.Errorf("%s values cannot be varint-encoded", dt)
		}
		return nil
	}
	for _, f := range fs {
		if f.typ == protowire.VarintType {
			if err := put(f.v); err != nil {
				return nil, err
			}
			continue
		}
		if f.typ != protowire.BytesType {
			continue
		}
		b, err := rd.bytes(f)
		if err != nil {
			return nil, err
		}
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("bad packed varint data")
			}
			if err := put(v); err != nil {
				return nil, err
			}
			b = b[n:]
		}
	}
	if int64(len(raw)) != numel*size {
		return nil, fmt.Errorf("holds %d values, its shape %v needs %d", int64(len(raw))/size, t.Shape, numel)
	}
	return raw, nil
}

// eachBytes calls fn for each field of the in-memory message b (base is its
// file offset, for errors): the varint or fixed value, or the bytes.
func eachBytes(b []byte, base int64, fn func(num protowire.Number, typ protowire.Type, v uint64, s []byte) error) error {
	off := base
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ckpt.Atf(off, "%s", "bad field tag")
		}
		b, off = b[n:], off+int64(n)
		var v uint64
		var s []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			s, n = protowire.ConsumeBytes(b)
		default:
			return ckpt.Atf(off, "%s", fmt.Sprintf("field %d has unsupported wire type %d", num, typ))
		}
		if n < 0 {
			return ckpt.Atf(off, "%s", fmt.Sprintf("field %d is truncated", num))
		}
		if err := fn(num, typ, v, s); err != nil {
			return err
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

func decodeValueInfo(b []byte, base int64) (ValueInfo, error) {
	var v ValueInfo
	err := eachBytes(b, base, func(num protowire.Number, typ protowire.Type, _ uint64, s []byte) error {
		switch {
		case num == valueName && typ == protowire.BytesType:
			v.Name = string(s)
		case num == valueType && typ == protowire.BytesType:
			return eachBytes(s, base, func(num protowire.Number, typ protowire.Type, _ uint64, s []byte) error {
				if num != typeTensor || typ != protowire.BytesType {
					return nil
				}
				return eachBytes(s, base, func(num protowire.Number, typ protowire.Type, x uint64, s []byte) error {
					switch {
					case num == tensorElemType && typ == protowire.VarintType:
						v.ElemType = DataType(x)
					case num == tensorShape && typ == protowire.BytesType:
						v.Shape = []Dim{}
						return eachBytes(s, base, func(num protowire.Number, typ protowire.Type, _ uint64, s []byte) error {
							if num != shapeDim || typ != protowire.BytesType {
								return nil
							}
							var d Dim
							err := eachBytes(s, base, func(num protowire.Number, typ protowire.Type, x uint64, s []byte) error {
								switch {
								case num == dimValue && typ == protowire.VarintType:
									d.Value = int64(x)
								case num == dimParam && typ == protowire.BytesType:
									d.Param = string(s)
								}
								return nil
							})
							if d.Param == "" && d.Value == 0 {
								d.Param = "?"
							}
							v.Shape = append(v.Shape, d)
							return err
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	return v, err
}

// Detect reports whether head (a file's first bytes) looks like an ONNX
// model: ModelProto's ir_version field (1, varint, a small version) then
// another ModelProto field.
func Detect(head []byte) bool {
	if len(head) < 3 || head[0] != 0x08 || head[1] == 0 || head[1] > 64 {
		return false
	}
	num, typ, n := protowire.ConsumeTag(head[2:])
	if n < 0 {
		return false
	}
	switch {
	case (num >= 2 && num <= 4 || num == 6 || num == 7 || num == 8 || num == 14) && typ == protowire.BytesType:
		return true
	case num == 5 && typ == protowire.VarintType:
		return true
	}
	return false
}
