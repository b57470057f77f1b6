package jpeg

import "encoding/binary"

// The accurate integer inverse DCT of jidctint.c (jpeg_idct_islow): the
// Loeffler-Ligtenberg-Moschytz algorithm with 13-bit constants, a first
// pass over columns keeping 2 extra bits, a second over rows. Dequantization
// is folded into the first pass. Outputs are clamped to 0..255, as the
// SIMD versions that libjpeg-turbo runs on x86 clamp them.

const (
	constBits = 13
	pass1Bits = 2

	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
)

func clampSample(x int32) byte {
	x += 128
	if uint32(x) > 255 {
		if x < 0 {
			return 0
		}
		return 255
	}
	return byte(x)
}

// idctBlock transforms the dequantized block into an 8x8 tile of dst at
// rows of stride bytes.
func idctBlock(in []int16, q *[64]int32, dst []byte, stride int) {
	in = in[:64:64]
	acZero := true
	for _, v := range in[1:] {
		if v != 0 {
			acZero = false
			break
		}
	}
	if acZero {
		// Both passes reduce to the rounded, clamped DC for a block with
		// no AC coefficient.
		v := clampSample((int32(in[0])*q[0]<<pass1Bits + 1<<(pass1Bits+2)) >> (pass1Bits + 3))
		v8 := uint64(v) * 0x0101010101010101
		for r := 0; r < 8; r++ {
			binary.LittleEndian.PutUint64(dst[r*stride:], v8)
		}
		return
	}
	var ws [64]int32
	for col := 0; col < 8; col++ {
		if in[8+col] == 0 && in[16+col] == 0 && in[24+col] == 0 && in[32+col] == 0 &&
			in[40+col] == 0 && in[48+col] == 0 && in[56+col] == 0 {
			dc := int32(in[col]) * q[col] << pass1Bits
			ws[col], ws[8+col], ws[16+col], ws[24+col] = dc, dc, dc, dc
			ws[32+col], ws[40+col], ws[48+col], ws[56+col] = dc, dc, dc, dc
			continue
		}
		// Even part.
		z2 := int32(in[16+col]) * q[16+col]
		z3 := int32(in[48+col]) * q[48+col]
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 + z3*(-fix1_847759065)
		tmp3 := z1 + z2*fix0_765366865
		z2 = int32(in[col]) * q[col]
		z3 = int32(in[32+col]) * q[32+col]
		tmp0 := (z2 + z3) << constBits
		tmp1 := (z2 - z3) << constBits
		tmp10 := tmp0 + tmp3
		tmp13 := tmp0 - tmp3
		tmp11 := tmp1 + tmp2
		tmp12 := tmp1 - tmp2
		// Odd part.
		tmp0 = int32(in[56+col]) * q[56+col]
		tmp1 = int32(in[40+col]) * q[40+col]
		tmp2 = int32(in[24+col]) * q[24+col]
		tmp3 = int32(in[8+col]) * q[8+col]
		z1 = tmp0 + tmp3
		z2 = tmp1 + tmp2
		z3 = tmp0 + tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1_175875602
		tmp0 *= fix0_298631336
		tmp1 *= fix2_053119869
		tmp2 *= fix3_072711026
		tmp3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 *= -fix1_961570560
		z4 *= -fix0_390180644
		z3 += z5
		z4 += z5
		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4
		const sh = constBits - pass1Bits
		const rnd = 1 << (sh - 1)
		ws[0*8+col] = (tmp10 + tmp3 + rnd) >> sh
		ws[7*8+col] = (tmp10 - tmp3 + rnd) >> sh
		ws[1*8+col] = (tmp11 + tmp2 + rnd) >> sh
		ws[6*8+col] = (tmp11 - tmp2 + rnd) >> sh
		ws[2*8+col] = (tmp12 + tmp1 + rnd) >> sh
		ws[5*8+col] = (tmp12 - tmp1 + rnd) >> sh
		ws[3*8+col] = (tmp13 + tmp0 + rnd) >> sh
		ws[4*8+col] = (tmp13 - tmp0 + rnd) >> sh
	}
	for row := 0; row < 8; row++ {
		w := ws[row*8 : row*8+8 : row*8+8]
		out := dst[row*stride : row*stride+8 : row*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := clampSample((w[0] + 1<<(pass1Bits+2)) >> (pass1Bits + 3))
			binary.LittleEndian.PutUint64(out, uint64(v)*0x0101010101010101)
			continue
		}
		const sh = constBits + pass1Bits + 3
		const rnd = 1 << (sh - 1)
		if w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			// The same sums with the zero terms of w[4..7] left out.
			w0 := w[0] << constBits
			z1 := w[2] * fix0_541196100
			tmp3 := z1 + w[2]*fix0_765366865
			tmp10, tmp13 := w0+tmp3, w0-tmp3
			tmp11, tmp12 := w0+z1, w0-z1
			z5 := (w[3] + w[1]) * fix1_175875602
			z1 = w[1] * -fix0_899976223
			z2 := w[3] * -fix2_562915447
			z3 := w[3]*-fix1_961570560 + z5
			z4 := w[1]*-fix0_390180644 + z5
			o0 := z1 + z3
			o1 := z2 + z4
			o2 := w[3]*fix3_072711026 + z2 + z3
			o3 := w[1]*fix1_501321110 + z1 + z4
			out[0] = clampSample((tmp10 + o3 + rnd) >> sh)
			out[7] = clampSample((tmp10 - o3 + rnd) >> sh)
			out[1] = clampSample((tmp11 + o2 + rnd) >> sh)
			out[6] = clampSample((tmp11 - o2 + rnd) >> sh)
			out[2] = clampSample((tmp12 + o1 + rnd) >> sh)
			out[5] = clampSample((tmp12 - o1 + rnd) >> sh)
			out[3] = clampSample((tmp13 + o0 + rnd) >> sh)
			out[4] = clampSample((tmp13 - o0 + rnd) >> sh)
			continue
		}
		z2 := w[2]
		z3 := w[6]
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 + z3*(-fix1_847759065)
		tmp3 := z1 + z2*fix0_765366865
		tmp0 := (w[0] + w[4]) << constBits
		tmp1 := (w[0] - w[4]) << constBits
		tmp10 := tmp0 + tmp3
		tmp13 := tmp0 - tmp3
		tmp11 := tmp1 + tmp2
		tmp12 := tmp1 - tmp2
		tmp0 = w[7]
		tmp1 = w[5]
		tmp2 = w[3]
		tmp3 = w[1]
		z1 = tmp0 + tmp3
		z2 = tmp1 + tmp2
		z3 = tmp0 + tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1_175875602
		tmp0 *= fix0_298631336
		tmp1 *= fix2_053119869
		tmp2 *= fix3_072711026
		tmp3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 *= -fix1_961570560
		z4 *= -fix0_390180644
		z3 += z5
		z4 += z5
		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4
		out[0] = clampSample((tmp10 + tmp3 + rnd) >> sh)
		out[7] = clampSample((tmp10 - tmp3 + rnd) >> sh)
		out[1] = clampSample((tmp11 + tmp2 + rnd) >> sh)
		out[6] = clampSample((tmp11 - tmp2 + rnd) >> sh)
		out[2] = clampSample((tmp12 + tmp1 + rnd) >> sh)
		out[5] = clampSample((tmp12 - tmp1 + rnd) >> sh)
		out[3] = clampSample((tmp13 + tmp0 + rnd) >> sh)
		out[4] = clampSample((tmp13 - tmp0 + rnd) >> sh)
	}
}
