// Package ckpt is glipctl's tensor model: named, typed, shaped arrays whose
// bytes are read on demand from wherever a checkpoint format keeps them.
//
// The format readers and writers live in sub-packages (pth, safetensors,
// gguf, onnx); package formats opens any of them by sniffing the file.
//
// What every reader guarantees: it opens only regular files (OpenRegular);
// every size it computes from a header field (element counts, block and
// element sizes, strides, offsets) goes through MulSize and AddSize, so none
// can overflow; a tensor it returns passes Check and its NBytes lie inside
// the file, so reading a tensor never allocates more than the file's size;
// a tensor it cannot represent (complex, quantized, sparse) is listed in
// Checkpoint.Unsupported instead of failing the file; and every error about
// a file's contents is a *FormatError naming the file, the format, the
// problem and, where known, the byte offset.
package ckpt

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/x448/float16"
)

// DType is the element type of a tensor.
type DType uint8

// The element types glipctl knows. The zero value is Invalid.
const (
	Invalid DType = iota
	F64
	F32
	F16
	BF16
	I64
	I32
	I16
	I8
	U8
	Bool
	// Q8_0 is GGUF's 8-bit block quantisation: blocks of 32 elements, each
	// an f16 scale followed by 32 int8 values (34 bytes a block).
	Q8_0
)

// Q8Block is the number of elements in one Q8_0 block.
const Q8Block = 32

// q8BlockBytes is the size of one Q8_0 block in bytes.
const q8BlockBytes = 2 + Q8Block

var dtypeNames = [...]string{
	Invalid: "INVALID",
	F64:     "F64",
	F32:     "F32",
	F16:     "F16",
	BF16:    "BF16",
	I64:     "I64",
	I32:     "I32",
	I16:     "I16",
	I8:      "I8",
	U8:      "U8",
	Bool:    "BOOL",
	Q8_0:    "Q8_0",
}

var torchNames = [...]string{
	Invalid: "invalid",
	F64:     "float64",
	F32:     "float32",
	F16:     "float16",
	BF16:    "bfloat16",
	I64:     "int64",
	I32:     "int32",
	I16:     "int16",
	I8:      "int8",
	U8:      "uint8",
	Bool:    "bool",
	Q8_0:    "q8_0",
}

// String returns the safetensors spelling of d ("F32", "BOOL", ...).
func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// TorchName returns the torch spelling of d ("float32", "bool", ...).
func (d DType) TorchName() string {
	if int(d) < len(torchNames) {
		return torchNames[d]
	}
	return d.String()
}

// ParseDType accepts the safetensors or the torch spelling of a dtype,
// case-insensitively.
func ParseDType(s string) (DType, error) {
	for i := 1; i < len(dtypeNames); i++ {
		if strings.EqualFold(s, dtypeNames[i]) || strings.EqualFold(s, torchNames[i]) {
			return DType(i), nil
		}
	}
	return Invalid, fmt.Errorf("unknown dtype %q", s)
}

// Valid reports whether d is one of the known element types.
func (d DType) Valid() bool { return d > Invalid && d <= Q8_0 }

// IsFloat reports whether d holds floating-point values (Q8_0 included).
func (d DType) IsFloat() bool {
	switch d {
	case F64, F32, F16, BF16, Q8_0:
		return true
	}
	return false
}

// Size returns the size of one element in bytes, or 0 for block-quantised
// and invalid types (see Bytes).
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// Bytes returns the number of bytes numel elements of d occupy, and false
// when that is not a whole number of bytes (Q8_0 with numel not a multiple
// of the block), negative, or overflows int64.
func (d DType) Bytes(numel int64) (int64, bool) {
	if numel < 0 || !d.Valid() {
		return 0, false
	}
	if d == Q8_0 {
		if numel%Q8Block != 0 {
			return 0, false
		}
		return MulSize(numel/Q8Block, q8BlockBytes)
	}
	return MulSize(numel, int64(d.Size()))
}

// Numel returns the product of shape, and false when a dimension is
// negative or the product overflows int64.
func Numel(shape []int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		var ok bool
		if n, ok = MulSize(n, d); !ok {
			return 0, false
		}
	}
	return n, true
}

// DecodeFloat64 decodes the little-endian elements of raw (of type d) into
// dst, which must hold exactly the number of elements raw contains.
func DecodeFloat64(d DType, raw []byte, dst []float64) error {
	if err := checkDecode(d, len(raw), len(dst)); err != nil {
		return err
	}
	le := binary.LittleEndian
	switch d {
	case F64:
		for i := range dst {
			dst[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
	case F32:
		for i := range dst {
			dst[i] = float64(math.Float32frombits(le.Uint32(raw[4*i:])))
		}
	case F16:
		for i := range dst {
			dst[i] = float64(float16.Frombits(le.Uint16(raw[2*i:])).Float32())
		}
	case BF16:
		for i := range dst {
			dst[i] = float64(math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16))
		}
	case I64:
		for i := range dst {
			dst[i] = float64(int64(le.Uint64(raw[8*i:])))
		}
	case I32:
		for i := range dst {
			dst[i] = float64(int32(le.Uint32(raw[4*i:])))
		}
	case I16:
		for i := range dst {
			dst[i] = float64(int16(le.Uint16(raw[2*i:])))
		}
	case I8:
		for i := range dst {
			dst[i] = float64(int8(raw[i]))
		}
	case U8, Bool:
		for i := range dst {
			dst[i] = float64(raw[i])
		}
	case Q8_0:
		for b := 0; b < len(dst)/Q8Block; b++ {
			blk := raw[b*q8BlockBytes:]
			scale := float64(float16.Frombits(le.Uint16(blk)).Float32())
			for j := 0; j < Q8Block; j++ {
				dst[b*Q8Block+j] = scale * float64(int8(blk[2+j]))
			}
		}
	}
	return nil
}

// DecodeFloat32 decodes the little-endian elements of raw (of type d) into
// dst, which must hold exactly the number of elements raw contains.
func DecodeFloat32(d DType, raw []byte, dst []float32) error {
	if err := checkDecode(d, len(raw), len(dst)); err != nil {
		return err
	}
	le := binary.LittleEndian
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = float16.Frombits(le.Uint16(raw[2*i:])).Float32()
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16)
		}
	case Q8_0:
		for b := 0; b < len(dst)/Q8Block; b++ {
			blk := raw[b*q8BlockBytes:]
			scale := float16.Frombits(le.Uint16(blk)).Float32()
			for j := 0; j < Q8Block; j++ {
				dst[b*Q8Block+j] = scale * float32(int8(blk[2+j]))
			}
		}
	default:
		// Integer and f64 types: go through float64 element by element.
		var one [1]float64
		s := d.Size()
		for i := range dst {
			if err := DecodeFloat64(d, raw[i*s:(i+1)*s], one[:]); err != nil {
				return err
			}
			dst[i] = float32(one[0])
		}
	}
	return nil
}

func checkDecode(d DType, nraw, n int) error {
	want, ok := d.Bytes(int64(n))
	if !ok || want != int64(nraw) {
		return fmt.Errorf("decode %s: %d bytes do not hold %d elements", d, nraw, n)
	}
	return nil
}

// littleEndianHost is true where the machine's byte order is the file
// formats' (amd64, arm64, ...), so F32 bytes can be used in place.
var littleEndianHost = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Float32View returns raw's F32 elements without copying when the host is
// little-endian and raw is 4-byte aligned; ok is false otherwise (decode
// with DecodeFloat32 then).
func Float32View(raw []byte) (v []float32, ok bool) {
	if !littleEndianHost || len(raw)%4 != 0 {
		return nil, false
	}
	if len(raw) == 0 {
		return []float32{}, true
	}
	if uintptr(unsafe.Pointer(&raw[0]))%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), len(raw)/4), true
}
