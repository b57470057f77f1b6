//go:build (!amd64 && !arm64) || purego

package swin

func expSubSum(row []float32, mx float32) float32 { return expSubSumGo(row, mx) }

func scaleBiasMax(row []float32, scale float32, bias, mask []float32) float32 {
	return scaleBiasMaxGo(row, scale, bias, mask)
}

func softmaxRow(row []float32, scale float32, bias, mask []float32) {
	softmaxRowGo(row, scale, bias, mask)
}

func layerNormSums(x []float32) (s, q float64) { return layerNormSumsGo(x) }

func layerNormApply(dst, src, w, b []float32, m, inv float32) {
	layerNormApplyGo(dst, src, w, b, m, inv)
}
