package gguf

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// q8BlockBytes is the size of a Q8_0 block: an f16 scale and 32 int8.
const q8BlockBytes = 2 + ckpt.Q8Block

// Quantize appends the Q8_0 blocks of src (whose length must be a multiple
// of 32) to dst and returns the extended slice. It computes what ggml's
// quantize_row_q8_0_ref computes, in float32 arithmetic: for each block of
// 32 values, amax = the largest |x|, d = amax/127, id = 1/d (0 when d is 0),
// q = roundf(x*id) (halves away from zero), and stores d as f16 (round to
// nearest even) before the 32 q. Where ggml's result is undefined (a NaN or
// infinite input makes x*id NaN or out of range) q is 0 for NaN and
// otherwise clamped to [-128, 127].
func Quantize(dst []byte, src []float32) ([]byte, error) {
	if len(src)%ckpt.Q8Block != 0 {
		return dst, fmt.Errorf("Q8_0: %d values are not whole blocks of %d", len(src), ckpt.Q8Block)
	}
	var blk [q8BlockBytes]byte
	for b := 0; b < len(src); b += ckpt.Q8Block {
		x := src[b : b+ckpt.Q8Block]
		var amax float32
		for _, v := range x {
			if av := math.Float32frombits(math.Float32bits(v) &^ (1 << 31)); !(amax > av) { // ggml's MAX(amax, fabsf(v))
				amax = av
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(blk[:], float16.Fromfloat32(d).Bits())
		for j, v := range x {
			blk[2+j] = byte(roundToInt8(v * id))
		}
		dst = append(dst, blk[:]...)
	}
	return dst, nil
}

// roundToInt8 is C's (int8_t)roundf(x) for x in range; NaN gives 0 and
// values out of range are clamped.
func roundToInt8(x float32) int8 {
	r := math.Round(float64(x)) // exact for a float32, halves away from zero
	switch {
	case r >= -128 && r <= 127:
		return int8(r)
	case r > 127:
		return 127
	case r < -128:
		return -128
	}
	return 0 // NaN
}
