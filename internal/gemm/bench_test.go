package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchMatMulT runs C = A·Bᵀ of m×n×k with the Kernel and reports GFLOPS
// (2·m·n·k per product).
func benchMatMulT(b *testing.B, kr Kernel, m, n, k int, ep *Epilogue) {
	r := rand.New(rand.NewPCG(1, 2))
	a, bb := randSlice(r, m*k), randSlice(r, n*k)
	c := make([]float32, m*n)
	run := func() {
		if ep != nil {
			kr.MatMulTEpilogue(m, n, k, a, k, bb, k, c, n, *ep)
		} else {
			kr.MatMulT(m, n, k, a, k, bb, k, nil, c, n)
		}
	}
	run()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
}

// BenchmarkSgemm1024 is the 1024³ product C = A·Bᵀ on all cores with the
// best kernel: GFLOPS over all iterations, and best_GFLOPS of the fastest
// one (what scripts/bench/bench_gemm.sh compares with torch's best call, on a
// machine shared with other work).
func BenchmarkSgemm1024(b *testing.B) { benchBest(b, Kernel{}, 1024) }

// BenchmarkSgemm1024Threads is the 1024³ product on 1 and 2 goroutines
// with every kernel.
func BenchmarkSgemm1024Threads(b *testing.B) {
	for _, im := range impls {
		for _, w := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/workers=%d", im.name, w), func(b *testing.B) {
				benchBest(b, Kernel{impl: im, Workers: w}, 1024)
			})
		}
	}
}

func benchBest(b *testing.B, kr Kernel, n int) {
	r := rand.New(rand.NewPCG(1, 2))
	a, bb := randSlice(r, n*n), randSlice(r, n*n)
	c := make([]float32, n*n)
	kr.MatMulT(n, n, n, a, n, bb, n, nil, c, n)
	best := time.Duration(1 << 62)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		kr.MatMulT(n, n, n, a, n, bb, n, nil, c, n)
		best = min(best, time.Since(t0))
	}
	flops := 2 * float64(n) * float64(n) * float64(n)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
	b.ReportMetric(flops/best.Seconds()/1e9, "best_GFLOPS")
}

// swinT lists the dense products of a Swin-T forward pass at 224×224
// (tokens × out × in): patch embedding, then per stage qkv, proj, fc1,
// fc2, and the patch merging reductions.
var swinT = []struct {
	name    string
	m, n, k int
}{
	{"embed_3136x96x48", 3136, 96, 48},
	{"s1_qkv_3136x288x96", 3136, 288, 96},
	{"s1_proj_3136x96x96", 3136, 96, 96},
	{"s1_fc1_3136x384x96", 3136, 384, 96},
	{"s1_fc2_3136x96x384", 3136, 96, 384},
	{"merge1_784x192x384", 784, 192, 384},
	{"s2_qkv_784x576x192", 784, 576, 192},
	{"s2_fc1_784x768x192", 784, 768, 192},
	{"s2_fc2_784x192x768", 784, 192, 768},
	{"s3_qkv_196x1152x384", 196, 1152, 384},
	{"s3_fc1_196x1536x384", 196, 1536, 384},
	{"s3_fc2_196x384x1536", 196, 384, 1536},
	{"s4_fc1_49x3072x768", 49, 3072, 768},
	{"s4_fc2_49x768x3072", 49, 768, 3072},
}

func BenchmarkSwinT(b *testing.B) {
	for _, im := range impls {
		for _, s := range swinT {
			b.Run(im.name+"/"+s.name, func(b *testing.B) {
				benchMatMulT(b, Kernel{impl: im}, s.m, s.n, s.k, nil)
			})
		}
	}
}

// BenchmarkFC1GELU compares the fused GELU epilogue with MatMulT followed
// by a separate GELU pass, on stage 1's fc1.
func BenchmarkFC1GELU(b *testing.B) {
	m, n, k := 3136, 384, 96
	for _, im := range impls {
		kr := Kernel{impl: im}
		r := rand.New(rand.NewPCG(1, 2))
		bias := randSlice(r, n)
		b.Run(im.name+"/fused", func(b *testing.B) {
			benchMatMulT(b, kr, m, n, k, &Epilogue{Bias: bias, GELU: true})
		})
		b.Run(im.name+"/separate", func(b *testing.B) {
			a, bb := randSlice(r, m*k), randSlice(r, n*k)
			c := make([]float32, m*n)
			for b.Loop() {
				kr.MatMulT(m, n, k, a, k, bb, k, bias, c, n)
				kr.GELU(c)
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
		b.Run(im.name+"/nogelu", func(b *testing.B) {
			benchMatMulT(b, kr, m, n, k, &Epilogue{Bias: bias})
		})
	}
}

// BenchmarkGELU is the GELU alone over 64 Ki values (ns/op / 65536 is the
// cost per value): the assembly vector code against float64 math.Erfc.
func BenchmarkGELU(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := randSlice(r, 1<<16)
	for _, im := range impls {
		b.Run(im.name, func(b *testing.B) {
			y := make([]float32, len(x))
			for b.Loop() {
				copy(y, x)
				Kernel{impl: im}.GELU(y)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(x)), "ns/value")
		})
	}
}

// BenchmarkWindowAttention is stage 1's attention products: 64 windows ×
// 3 heads of scores (49×49×32, A·Bᵀ) and of attention·V (49×32×49, A·B),
// batched, with heads writing their columns of the same rows.
func BenchmarkWindowAttention(b *testing.B) {
	const win, heads, ntok, hd = 64, 3, 49, 32
	c := heads * hd
	r := rand.New(rand.NewPCG(1, 2))
	qkv := randSlice(r, win*ntok*3*c)
	s := make([]float32, win*heads*ntok*ntok)
	out := make([]float32, win*ntok*c)
	flops := 2 * float64(win*heads) * 2 * ntok * ntok * hd
	for _, im := range impls {
		kr := Kernel{impl: im}
		b.Run(im.name+"/scores", func(b *testing.B) {
			for b.Loop() {
				for h := 0; h < heads; h++ {
					// q and k of head h in every window.
					kr.BatchMatMulT(win, ntok, ntok, hd, qkv[h*hd:], ntok*3*c, 3*c, qkv[c+h*hd:], ntok*3*c, 3*c,
						s[h*win*ntok*ntok:], ntok*ntok, ntok)
				}
			}
			b.ReportMetric(flops/2*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
		b.Run(im.name+"/attnV", func(b *testing.B) {
			for b.Loop() {
				for h := 0; h < heads; h++ {
					kr.BatchMatMul(win, ntok, hd, ntok, s[h*win*ntok*ntok:], ntok*ntok, ntok, qkv[2*c+h*hd:], ntok*3*c, 3*c,
						out[h*hd:], ntok*c, c)
				}
			}
			b.ReportMetric(flops/2*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
		b.Run(im.name+"/single_49x49x32", func(b *testing.B) {
			// One product per call on one goroutine, as the forward pass
			// calls MatMulT from its own goroutines.
			sc := make([]float32, ntok*ntok)
			for b.Loop() {
				kr.MatMulT(ntok, ntok, hd, qkv, 3*c, qkv[c:], 3*c, nil, sc, ntok)
			}
			b.ReportMetric(2*ntok*ntok*hd*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}
