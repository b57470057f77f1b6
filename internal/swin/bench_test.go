package swin

import (
	"testing"
	"time"
)

// swinL is the real Swin-L architecture (GLIP-L's backbone).
var swinL = Arch{EmbedDim: 192, Depths: []int{2, 2, 18, 2}, Heads: []int{6, 12, 24, 48}, Window: 12, PatchSize: 4, InChans: 3, MLPRatio: 4}

// benchForward times Forward of an n-image batch of size×size inputs
// (random weights of the architecture, mmpretrain semantics, stages 1-3)
// with the default kernel, and reports best_ms, the fastest pass (what
// scripts/bench/bench_forward.sh compares with PyTorch's best pass on a machine
// shared with other work) and, for batches, img/s of that pass.
func benchForward(b *testing.B, a Arch, n, size int) {
	m, err := FromTensors(randomTensors(a, []int{1, 2, 3}, 1))
	if err != nil {
		b.Fatal(err)
	}
	x := randomInput(n, size, size, 2)
	if _, err := m.Forward(x, Options{Semantics: MMPretrain}); err != nil { // warm up
		b.Fatal(err)
	}
	best := time.Duration(1 << 62)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := m.Forward(x, Options{Semantics: MMPretrain}); err != nil {
			b.Fatal(err)
		}
		best = min(best, time.Since(t0))
	}
	b.ReportMetric(float64(best.Nanoseconds())/1e6, "best_ms")
	if n > 1 {
		b.ReportMetric(float64(n)/best.Seconds(), "best_img/s")
	}
}

// BenchmarkForward is the Swin-T forward pass at 224x224 (real Swin-T
// dimensions, random weights, mmpretrain semantics, stages 1-3): the
// in-process figure scripts/bench/bench_forward.sh compares with PyTorch.
func BenchmarkForward(b *testing.B) { benchForward(b, swinT, 1, 224) }

// BenchmarkForwardL384 is a Swin-L-shaped forward pass at 384x384 (real
// Swin-L dimensions, random weights).
func BenchmarkForwardL384(b *testing.B) { benchForward(b, swinL, 1, 384) }

// BenchmarkForwardBatch32 is Swin-T at 224x224 on a batch of 32 images
// (the images run in parallel).
func BenchmarkForwardBatch32(b *testing.B) { benchForward(b, swinT, 32, 224) }

// BenchmarkMatMul is the kernel alone on the largest Swin-T products.
func BenchmarkMatMul(b *testing.B) {
	for _, s := range []struct {
		name    string
		m, n, k int
	}{{"stage0-fc1", 3136, 384, 96}, {"stage2-qkv", 196, 1152, 384}, {"stage3-fc2", 49, 768, 3072}, {"attn-qk", 49, 49, 32}} {
		for _, kc := range []struct {
			name string
			mm   MatMul
		}{{"gemm", DefaultMatMul}, {"go", GoMatMul{}}} {
			b.Run(s.name+"/"+kc.name, func(b *testing.B) {
				x := randomInput(1, s.m, s.k, 1).Data[:s.m*s.k]
				y := randomInput(1, s.n, s.k, 2).Data[:s.n*s.k]
				c := make([]float32, s.m*s.n)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					kc.mm.MatMulT(s.m, s.n, s.k, x, s.k, y, s.k, nil, c, s.n)
				}
				b.ReportMetric(float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
			})
		}
	}
}

// BenchmarkForwardProfile is BenchmarkForward (Swin-T 224) and
// BenchmarkForwardL384 with Options.Profile: it reports, for the fastest
// pass, each category's ms (OP_ms) and GFLOPS (OP_GFLOPS), from which
// scripts/bench/bench_ort.sh prints a table.
func BenchmarkForwardProfile(b *testing.B) {
	for _, s := range []struct {
		name string
		a    Arch
		size int
	}{{"T224", swinT, 224}, {"L384", swinL, 384}} {
		b.Run(s.name, func(b *testing.B) {
			m, err := FromTensors(randomTensors(s.a, []int{1, 2, 3}, 1))
			if err != nil {
				b.Fatal(err)
			}
			x := randomInput(1, s.size, s.size, 2)
			if _, err := m.Forward(x, Options{Semantics: MMPretrain}); err != nil { // warm up
				b.Fatal(err)
			}
			var best *Profile
			bestT := time.Duration(1 << 62)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := new(Profile)
				t0 := time.Now()
				if _, err := m.Forward(x, Options{Semantics: MMPretrain, Profile: p}); err != nil {
					b.Fatal(err)
				}
				if d := time.Since(t0); d < bestT {
					bestT, best = d, p
				}
			}
			b.ReportMetric(float64(bestT.Nanoseconds())/1e6, "best_ms")
			for o := Op(0); o < NumOps; o++ {
				b.ReportMetric(best.Time[o].Seconds()*1e3, o.String()+"_ms")
				if best.FLOPs[o] > 0 && best.Time[o] > 0 {
					b.ReportMetric(float64(best.FLOPs[o])/best.Time[o].Seconds()/1e9, o.String()+"_GFLOPS")
				}
			}
		})
	}
}
