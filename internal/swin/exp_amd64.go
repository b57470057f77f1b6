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
