package swin

import (
	"testing"
)

// BenchmarkForward is the Swin-T forward pass at 224x224 (real Swin-T
// dimensions, random weights, mmpretrain semantics, stages 1-3): the
// in-process figure scripts/bench_forward.sh compares with PyTorch.
func BenchmarkForward(b *testing.B) {
	m, err := FromTensors(randomTensors(swinT, []int{1, 2, 3}, 1))
	if err != nil {
		b.Fatal(err)
	}
	x := randomInput(1, 224, 224, 2)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward(x, Options{Semantics: MMPretrain}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatMul is the kernel alone on the largest Swin-T products.
func BenchmarkMatMul(b *testing.B) {
	for _, s := range []struct {
		name    string
		m, n, k int
	}{{"stage0-fc1", 3136, 384, 96}, {"stage2-qkv", 196, 1152, 384}, {"stage3-fc2", 49, 768, 3072}, {"attn-qk", 49, 49, 32}} {
		b.Run(s.name, func(b *testing.B) {
			x := randomInput(1, s.m, s.k, 1).Data[:s.m*s.k]
			y := randomInput(1, s.n, s.k, 2).Data[:s.n*s.k]
			c := make([]float32, s.m*s.n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				DefaultMatMul.MatMulT(s.m, s.n, s.k, x, s.k, y, s.k, nil, c, s.n)
			}
			b.ReportMetric(float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
