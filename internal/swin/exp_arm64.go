//go:build arm64 && !purego

package swin

import "math"

// expSubSumNEON sets x[i] = e^(x[i]-mx) for i < n (a multiple of 8) and
// returns their sum (exp_arm64.s).
//
//go:noescape
func expSubSumNEON(x *float32, n int, mx float32) float32

// scaleBiasMaxNEON sets row[i] = row[i]*scale + bias[i] (+ mask[i] unless
// mask is nil) for i < n (a multiple of 8) and returns the largest
// (exp_arm64.s).
//
//go:noescape
func scaleBiasMaxNEON(row, bias, mask *float32, n int, scale float32) float32

// scaleBiasMax sets row[i] = row[i]*scale + bias[i] (+ mask[i] when mask
// is not nil) and returns the largest value: 8 at a time in NEON assembly
// (every arm64 CPU has it), the rest in Go.
func scaleBiasMax(row []float32, scale float32, bias, mask []float32) float32 {
	n := len(row)
	bias = bias[:n]
	if mask != nil {
		mask = mask[:n]
	}
	n8 := n &^ 7
	mx := float32(math.Inf(-1))
	if n8 > 0 {
		var mp *float32
		if mask != nil {
			mp = &mask[0]
		}
		mx = scaleBiasMaxNEON(&row[0], &bias[0], mp, n8, scale)
	}
	var tm []float32
	if mask != nil {
		tm = mask[n8:]
	}
	return max(mx, scaleBiasMaxGo(row[n8:], scale, bias[n8:], tm))
}

// expSubSum sets row[i] = e^(row[i]-mx) and returns their sum: 8 values at
// a time in NEON assembly, the last len%8 through the same code in a
// padded buffer (so a value does not depend on its position).
func expSubSum(row []float32, mx float32) float32 {
	n8 := len(row) &^ 7
	var sum float32
	if n8 > 0 {
		sum = expSubSumNEON(&row[0], n8, mx)
	}
	if n8 < len(row) {
		var buf [8]float32
		tail := row[n8:]
		copy(buf[:], tail)
		expSubSumNEON(&buf[0], 8, mx)
		for i := range tail {
			tail[i] = buf[i]
			sum += buf[i]
		}
	}
	return sum
}

func softmaxRow(row []float32, scale float32, bias, mask []float32) {
	softmaxRowGo(row, scale, bias, mask)
}

func layerNormSums(x []float32) (s, q float64) { return layerNormSumsGo(x) }

func layerNormApply(dst, src, w, b []float32, m, inv float32) {
	layerNormApplyGo(dst, src, w, b, m, inv)
}
