package swin

import "math"

// layerNormRows returns LayerNorm(x) over rows of c values (eps 1e-5); a
// zero layerNorm (nil weight and bias) means weight 1, bias 0. Mean and
// variance are accumulated in float64.
func layerNormRows(x []float32, c int, ln layerNorm) []float32 {
	out := make([]float32, len(x))
	rows := len(x) / c
	parallelFor(rows, c*4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			layerNormRow(out[r*c:(r+1)*c], x[r*c:(r+1)*c], ln)
		}
	})
	return out
}

// layerNormInPlace normalises rows of c values of x in place.
func layerNormInPlace(x []float32, c int, ln layerNorm) {
	rows := len(x) / c
	parallelFor(rows, c*4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*c : (r+1)*c]
			layerNormRow(row, row, ln)
		}
	})
}

func layerNormRow(dst, src []float32, ln layerNorm) {
	var sum float64
	for _, v := range src {
		sum += float64(v)
	}
	mean := sum / float64(len(src))
	var sq float64
	for _, v := range src {
		d := float64(v) - mean
		sq += d * d
	}
	inv := 1 / math.Sqrt(sq/float64(len(src))+lnEps)
	dst = dst[:len(src)]
	if ln.w == nil {
		for i, v := range src {
			dst[i] = float32((float64(v) - mean) * inv)
		}
		return
	}
	w, b := ln.w[:len(src)], ln.b[:len(src)]
	for i, v := range src {
		dst[i] = float32((float64(v)-mean)*inv)*w[i] + b[i]
	}
}

// softmaxInPlace replaces row by softmax(row).
func softmaxInPlace(row []float32) {
	mx := row[0]
	for _, v := range row[1:] {
		mx = max(mx, v)
	}
	var sum float64
	for i, v := range row {
		e := math.Exp(float64(v - mx))
		row[i] = float32(e)
		sum += e
	}
	inv := float32(1 / sum)
	for i := range row {
		row[i] *= inv
	}
}

// geluInPlace applies the exact (erf) GELU: x/2 * (1 + erf(x/√2)).
func geluInPlace(x []float32) {
	for i, v := range x {
		f := float64(v)
		x[i] = float32(0.5 * f * (1 + math.Erf(f*(1/math.Sqrt2))))
	}
}

// addTo adds src to dst elementwise.
func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}
