//go:build amd64 && !purego

package swin

import (
	"math"

	"golang.org/x/sys/cpu"
)

var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// expSubSumAVX2 sets x[i] = e^(x[i]-mx) for i < n (a multiple of 8) and
// returns their sum (exp_amd64.s).
//
//go:noescape
func expSubSumAVX2(x *float32, n int, mx float32) float32

// scaleBiasMaxAVX2 sets row[i] = row[i]*scale + bias[i] (+ mask[i] unless
// mask is nil) for i < n (a multiple of 8) and returns the largest
// (exp_amd64.s).
//
//go:noescape
func scaleBiasMaxAVX2(row, bias, mask *float32, n int, scale float32) float32

// softmaxRowAVX2 is softmaxRowGo on the AVX2 routines in one call
// (exp_amd64.s): n values of row, bias and mask (nil: none), n >= 1.
//
//go:noescape
func softmaxRowAVX2(row, bias, mask *float32, n int, scale float32)

// softmaxRow is softmaxRowGo; with AVX2 it runs as one assembly routine
// (three passes over the row without a call between them, and the tail
// through masked loads) that gives the same bits.
func softmaxRow(row []float32, scale float32, bias, mask []float32) {
	n := len(row)
	if !haveAVX2 || n == 0 {
		softmaxRowGo(row, scale, bias, mask)
		return
	}
	bias = bias[:n]
	var mp *float32
	if mask != nil {
		mp = &mask[:n][0]
	}
	softmaxRowAVX2(&row[0], &bias[0], mp, n, scale)
}

// scaleBiasMax sets row[i] = row[i]*scale + bias[i] (+ mask[i] when mask
// is not nil) and returns the largest value: 8 at a time in AVX2
// assembly, the rest in Go.
func scaleBiasMax(row []float32, scale float32, bias, mask []float32) float32 {
	if !haveAVX2 {
		return scaleBiasMaxGo(row, scale, bias, mask)
	}
	n := len(row)
	bias = bias[:n]
	var mp *float32
	if mask != nil {
		mask = mask[:n]
	}
	n8 := n &^ 7
	mx := float32(math.Inf(-1))
	if n8 > 0 {
		if mask != nil {
			mp = &mask[0]
		}
		mx = scaleBiasMaxAVX2(&row[0], &bias[0], mp, n8, scale)
	}
	var tm []float32
	if mask != nil {
		tm = mask[n8:]
	}
	return max(mx, scaleBiasMaxGo(row[n8:], scale, bias[n8:], tm))
}

// expSubSum sets row[i] = e^(row[i]-mx) and returns their sum: 8 values at
// a time in AVX2 assembly, the last len%8 through the same code in a
// padded buffer (so a value does not depend on its position), or expf
// without AVX2.
func expSubSum(row []float32, mx float32) float32 {
	if !haveAVX2 {
		return expSubSumGo(row, mx)
	}
	n8 := len(row) &^ 7
	var sum float32
	if n8 > 0 {
		sum = expSubSumAVX2(&row[0], n8, mx)
	}
	if n8 < len(row) {
		var buf [8]float32
		tail := row[n8:]
		copy(buf[:], tail)
		expSubSumAVX2(&buf[0], 8, mx)
		for i := range tail {
			tail[i] = buf[i]
			sum += buf[i]
		}
	}
	return sum
}

// layerNormSumsAVX2 is the vector part of layerNormSums (exp_amd64.s): n
// a multiple of 8.
//
//go:noescape
func layerNormSumsAVX2(x *float32, n int) (s, q float64)

// layerNormApplyAVX2 is layerNormApply on n values, a multiple of 8
// (exp_amd64.s); w and b nil for no affine part.
//
//go:noescape
func layerNormApplyAVX2(dst, src, w, b *float32, n int, m, inv float32)

// layerNormSums returns the sum and the sum of squares of x in float64:
// value 8i+k goes to accumulator k of 8, the accumulators are added as
// ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), then the last len%8 values one by
// one. AVX2 assembly for the first len&^7 values, or Go in the same order.
func layerNormSums(x []float32) (s, q float64) {
	n8 := len(x) &^ 7
	if !haveAVX2 || n8 == 0 {
		return layerNormSumsGo(x)
	}
	s, q = layerNormSumsAVX2(&x[0], n8)
	return addSums(x[n8:], s, q)
}

// layerNormApply is layerNormApplyGo, 8 values at a time in AVX2 assembly.
func layerNormApply(dst, src, w, b []float32, m, inv float32) {
	n := len(src)
	n8 := n &^ 7
	if !haveAVX2 || n8 == 0 {
		layerNormApplyGo(dst, src, w, b, m, inv)
		return
	}
	dst = dst[:n]
	var wp, bp *float32
	if w != nil {
		w, b = w[:n], b[:n]
		wp, bp = &w[0], &b[0]
	}
	layerNormApplyAVX2(&dst[0], &src[0], wp, bp, n8, m, inv)
	if w != nil {
		layerNormApplyGo(dst[n8:], src[n8:], w[n8:], b[n8:], m, inv)
	} else {
		layerNormApplyGo(dst[n8:], src[n8:], nil, nil, m, inv)
	}
}
