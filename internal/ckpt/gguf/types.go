package gguf

import (
	"fmt"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// GGMLType is a ggml tensor type, as numbered in GGUF tensor infos.
type GGMLType uint32

// The ggml tensor types glipctl reads and writes.
const (
	GGMLF32  GGMLType = 0
	GGMLF16  GGMLType = 1
	GGMLQ8_0 GGMLType = 8
	GGMLI8   GGMLType = 24
	GGMLI16  GGMLType = 25
	GGMLI32  GGMLType = 26
	GGMLI64  GGMLType = 27
	GGMLF64  GGMLType = 28
	GGMLBF16 GGMLType = 30
)

// ggmlNames names the ggml types, supported or not, for messages.
var ggmlNames = map[GGMLType]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
	10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K",
	16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S",
	22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
	29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}

// String returns ggml's name of t ("F32", "Q8_0", ...).
func (t GGMLType) String() string {
	if s, ok := ggmlNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type %d", uint32(t))
}

var ggmlToDType = map[GGMLType]ckpt.DType{
	GGMLF32: ckpt.F32, GGMLF16: ckpt.F16, GGMLQ8_0: ckpt.Q8_0, GGMLI8: ckpt.I8,
	GGMLI16: ckpt.I16, GGMLI32: ckpt.I32, GGMLI64: ckpt.I64, GGMLF64: ckpt.F64,
	GGMLBF16: ckpt.BF16,
}

var dtypeToGGML = func() map[ckpt.DType]GGMLType {
	m := make(map[ckpt.DType]GGMLType, len(ggmlToDType))
	for g, d := range ggmlToDType {
		m[d] = g
	}
	return m
}()

// DType returns the ckpt dtype of a ggml type, and false for the types
// glipctl does not support.
func (t GGMLType) DType() (ckpt.DType, bool) {
	d, ok := ggmlToDType[t]
	return d, ok
}

// TypeOf returns the ggml type that stores dtype d, and false when GGUF has
// none (U8, BOOL).
func TypeOf(d ckpt.DType) (GGMLType, bool) {
	g, ok := dtypeToGGML[d]
	return g, ok
}
