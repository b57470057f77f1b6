package gguf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Type is the type of a GGUF metadata value.
type Type uint32

// The GGUF metadata value types, as numbered in the file.
const (
	TypeUint8   Type = 0
	TypeInt8    Type = 1
	TypeUint16  Type = 2
	TypeInt16   Type = 3
	TypeUint32  Type = 4
	TypeInt32   Type = 5
	TypeFloat32 Type = 6
	TypeBool    Type = 7
	TypeString  Type = 8
	TypeArray   Type = 9
	TypeUint64  Type = 10
	TypeInt64   Type = 11
	TypeFloat64 Type = 12
)

var typeNames = [...]string{
	TypeUint8: "uint8", TypeInt8: "int8", TypeUint16: "uint16", TypeInt16: "int16",
	TypeUint32: "uint32", TypeInt32: "int32", TypeFloat32: "float32", TypeBool: "bool",
	TypeString: "string", TypeArray: "array", TypeUint64: "uint64", TypeInt64: "int64",
	TypeFloat64: "float64",
}

// String returns the GGUF spec's name of t ("uint32", "string", ...).
func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Valid reports whether t is one of the GGUF value types.
func (t Type) Valid() bool { return t <= TypeFloat64 }

// size returns the encoded size of a fixed-size type, 0 for string and
// array (whose size depends on the value).
func (t Type) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// minSize is the fewest bytes a value of type t occupies in a file.
func (t Type) minSize() int64 {
	switch t {
	case TypeString:
		return 8 // the length
	case TypeArray:
		return 12 // element type and count
	}
	return int64(t.size())
}

func (t Type) isUnsigned() bool {
	return t == TypeUint8 || t == TypeUint16 || t == TypeUint32 || t == TypeUint64
}

func (t Type) isSigned() bool {
	return t == TypeInt8 || t == TypeInt16 || t == TypeInt32 || t == TypeInt64
}

// Value is a typed GGUF metadata value: a number, a bool, a string, or an
// array of values of one type (arrays of arrays included). The zero Value
// is the uint8 0. Make values with the constructors (Uint32, String, Array,
// ...), read them with the accessors.
type Value struct {
	typ  Type
	elem Type   // element type of an array
	bits uint64 // numbers and bools: unsigned value, two's complement, or IEEE bits
	str  string
	arr  []Value
}

// KV is one metadata key/value pair of a GGUF file.
type KV struct {
	Key   string
	Value Value
}

// Constructors of values.
func Uint8(v uint8) Value     { return Value{typ: TypeUint8, bits: uint64(v)} }
func Int8(v int8) Value       { return Value{typ: TypeInt8, bits: uint64(int64(v))} }
func Uint16(v uint16) Value   { return Value{typ: TypeUint16, bits: uint64(v)} }
func Int16(v int16) Value     { return Value{typ: TypeInt16, bits: uint64(int64(v))} }
func Uint32(v uint32) Value   { return Value{typ: TypeUint32, bits: uint64(v)} }
func Int32(v int32) Value     { return Value{typ: TypeInt32, bits: uint64(int64(v))} }
func Uint64(v uint64) Value   { return Value{typ: TypeUint64, bits: v} }
func Int64(v int64) Value     { return Value{typ: TypeInt64, bits: uint64(v)} }
func Float32(v float32) Value { return Value{typ: TypeFloat32, bits: uint64(math.Float32bits(v))} }
func Float64(v float64) Value { return Value{typ: TypeFloat64, bits: math.Float64bits(v)} }
func String(s string) Value   { return Value{typ: TypeString, str: s} }

// Bool returns a bool value.
func Bool(b bool) Value {
	v := Value{typ: TypeBool}
	if b {
		v.bits = 1
	}
	return v
}

// Array returns an array of items, which must all be of type elem (Write
// checks this).
func Array(elem Type, items ...Value) Value {
	return Value{typ: TypeArray, elem: elem, arr: items}
}

// Type returns the value's type.
func (v Value) Type() Type { return v.typ }

// Elem returns the element type of an array (meaningless otherwise).
func (v Value) Elem() Type { return v.elem }

// Items returns the elements of an array (nil otherwise).
func (v Value) Items() []Value { return v.arr }

// Uint returns an unsigned integer value (uint8..uint64).
func (v Value) Uint() (uint64, bool) { return v.bits, v.typ.isUnsigned() }

// Int returns a signed integer value (int8..int64).
func (v Value) Int() (int64, bool) { return int64(v.bits), v.typ.isSigned() }

// Float returns a float32 or float64 value.
func (v Value) Float() (float64, bool) {
	switch v.typ {
	case TypeFloat32:
		return float64(math.Float32frombits(uint32(v.bits))), true
	case TypeFloat64:
		return math.Float64frombits(v.bits), true
	}
	return 0, false
}

// Bool returns a bool value. A file may hold any byte for a bool; every
// non-zero byte is true.
func (v Value) Bool() (bool, bool) { return v.bits != 0, v.typ == TypeBool }

// Str returns a string value.
func (v Value) Str() (string, bool) { return v.str, v.typ == TypeString }

// Equal reports whether v and w have the same type and value (floats
// compared bit for bit).
func (v Value) Equal(w Value) bool {
	if v.typ != w.typ || v.bits != w.bits || v.str != w.str {
		return false
	}
	if v.typ != TypeArray {
		return true
	}
	if v.elem != w.elem || len(v.arr) != len(w.arr) {
		return false
	}
	for i := range v.arr {
		if !v.arr[i].Equal(w.arr[i]) {
			return false
		}
	}
	return true
}

// Display limits of String.
const (
	displayItems  = 8    // array items shown
	displayString = 64   // bytes of a string shown inside an array
	displayMax    = 1024 // bytes of an array's rendering, roughly
)

// String renders v for display: numbers in decimal, a string as is, an
// array as [a, b, ...] with its strings quoted, at most 8 items shown
// (then the count), strings inside arrays cut at 64 bytes, and the whole
// cut short ("...") past about 1 KiB.
func (v Value) String() string {
	if v.typ == TypeString {
		return v.str
	}
	var b strings.Builder
	v.render(&b)
	return b.String()
}

func (v Value) render(b *strings.Builder) {
	switch {
	case v.typ.isUnsigned():
		b.WriteString(strconv.FormatUint(v.bits, 10))
	case v.typ.isSigned():
		b.WriteString(strconv.FormatInt(int64(v.bits), 10))
	case v.typ == TypeFloat32:
		b.WriteString(strconv.FormatFloat(float64(math.Float32frombits(uint32(v.bits))), 'g', -1, 32))
	case v.typ == TypeFloat64:
		b.WriteString(strconv.FormatFloat(math.Float64frombits(v.bits), 'g', -1, 64))
	case v.typ == TypeBool:
		b.WriteString(strconv.FormatBool(v.bits != 0))
	case v.typ == TypeString:
		s := v.str
		if len(s) > displayString {
			s = strings.ToValidUTF8(s[:displayString], "") + "..."
		}
		b.WriteString(strconv.Quote(s))
	case v.typ == TypeArray:
		b.WriteByte('[')
		for i, it := range v.arr {
			if i == displayItems {
				fmt.Fprintf(b, ", ... (%d items)", len(v.arr))
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			if b.Len() > displayMax {
				b.WriteString("...")
				break
			}
			it.render(b)
		}
		b.WriteByte(']')
	default:
		b.WriteString(v.typ.String())
	}
}
