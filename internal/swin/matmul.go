package swin

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/glipctl/glipctl/internal/gemm"
)

// MatMul is the one matrix product the forward pass uses. Every matrix
// product of the model (the patch embedding, qkv, attention scores,
// attention times values, projections, MLPs, patch merging) goes through
// it, so a faster kernel (SIMD assembly, a BLAS) can replace the default
// without touching the model code. A kernel may also have the optional
// capabilities PackedMatMul, EpilogueMatMul and BatchMatMul (checked by
// type assertion; gemm.Kernel, the default, has all three): the model then
// uses packed weights, fused epilogues and batched attention products
// through them, and otherwise MatMulT and separate passes.
//
// MatMulT computes C = A·Bᵀ (+ bias) on row-major float32 matrices:
//
//	C[i*ldc+j] = bias[j] + Σ_{p<k} A[i*lda+p] * B[j*ldb+p]    for i < m, j < n
//
// A is m×k with row stride lda, B is n×k with row stride ldb (so both are
// read along k), C is m×n with row stride ldc; lda, ldb >= k and ldc >= n.
// bias is nil (no bias) or holds n values. C is overwritten, not
// accumulated into; elements of C outside the m×n block are not touched.
// The slices may be longer than needed but must not overlap C.
//
// Implementations must be safe for concurrent use (the attention calls
// MatMulT from several goroutines at once), may use goroutines of their
// own, must not keep the slices after returning, and must give the same
// result for the same arguments on every call (the order of the sum over
// k may differ between implementations, not between calls).
type MatMul interface {
	MatMulT(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int)
}

// EpilogueMatMul is an optional capability of a MatMul: the product with
// the bias, an exact GELU and a residual addition fused into its store,
//
//	C = act(A·Bᵀ + ep.Bias) + ep.Residual    (see gemm.Epilogue)
//
// The forward pass uses it, when the kernel has it, for qkv (bias), fc1
// (bias and GELU) and fc2 (bias and the residual, C itself). A kernel
// without it gets MatMulT followed by separate passes.
type EpilogueMatMul interface {
	MatMul
	MatMulTEpilogue(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, ep gemm.Epilogue)
}

// PackedMatMul is an optional capability of a MatMul: products with a
// weight matrix packed once by gemm.Kernel{}.PackBT (what the model keeps
// its linear layers as), with the epilogue of EpilogueMatMul. gemm.Kernel
// has it; for other kernels the model unpacks its weights once.
type PackedMatMul interface {
	MatMulTPacked(m int, a []float32, lda int, pb *gemm.PackedB, c []float32, ldc int, ep gemm.Epilogue)
}

// BatchMatMul is an optional capability of a MatMul: many independent
// products of one shape in one call (the window attention: scores Q·Kᵀ
// over windows or heads, and probabilities·V). Product q reads A at
// a[q*strideA:], B at b[q*strideB:] and writes C at c[q*strideC:].
// BatchMatMulT multiplies by Bᵀ (B_q is n×k), BatchMatMul by B (B_q is k×n,
// row stride ldb >= n). No bias. A kernel without it gets a loop of
// MatMulT calls on goroutines of the forward pass (and V transposed).
type BatchMatMul interface {
	MatMul
	BatchMatMulT(batch, m, n, k int, a []float32, strideA, lda int, b []float32, strideB, ldb int, c []float32, strideC, ldc int)
	BatchMatMul(batch, m, n, k int, a []float32, strideA, lda int, b []float32, strideB, ldb int, c []float32, strideC, ldc int)
}

// DefaultMatMul is the kernel a Model uses when its MatMul field is nil:
// the SIMD SGEMM of internal/gemm (AVX2+FMA assembly where the CPU has
// it, portable Go otherwise), which has both optional capabilities.
var DefaultMatMul MatMul = gemm.Kernel{}

var (
	_ EpilogueMatMul = gemm.Kernel{}
	_ BatchMatMul    = gemm.Kernel{}
	_ PackedMatMul   = gemm.Kernel{}
)

// serialMatMul returns mm limited to the calling goroutine when it is one
// of the kernels that take a worker count (used when the images of a
// batch run in parallel, one goroutine each); other kernels are returned
// as they are. Results do not depend on the worker count.
func serialMatMul(mm MatMul) MatMul {
	switch k := mm.(type) {
	case gemm.Kernel:
		k.Workers = 1
		return k
	case GoMatMul:
		k.Workers = 1
		return k
	}
	return mm
}

// GoMatMul is the portable pure-Go kernel: 4×2 register tiles of dot
// products along k, column blocks of B sized to stay in cache, and
// goroutines over tiles of rows (and columns when there are few rows) for
// products large enough to pay for them. Workers is the number of
// goroutines (0: GOMAXPROCS).
type GoMatMul struct {
	Workers int
}

// parallelMACs is the product size (m*n*k) below which GoMatMul does not
// start goroutines.
const parallelMACs = 1 << 17

// MatMulT implements MatMul.
func (g GoMatMul) MatMulT(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	checkGemmArgs(m, n, k, a, lda, b, ldb, bias, c, ldc)
	// Column blocks: nb rows of B (nb*k floats) should stay in L2 while
	// every row strip of A passes over them.
	nb := n
	if limit := (64 << 10) / (4 * max(k, 1)); nb > limit {
		nb = max(limit&^1, 8)
	}
	mb := 64
	if m < mb {
		mb = m
	}
	tilesM := (m + mb - 1) / mb
	tilesN := (n + nb - 1) / nb
	workers := g.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	total := tilesM * tilesN
	if int64(m)*int64(n)*int64(k) < parallelMACs || workers == 1 || total == 1 {
		for t := 0; t < total; t++ {
			ti, tj := t%tilesM, t/tilesM
			gemmTile(ti*mb, min((ti+1)*mb, m), tj*nb, min((tj+1)*nb, n), k, a, lda, b, ldb, bias, c, ldc)
		}
		return
	}
	if total < workers*2 && tilesN == 1 && n >= 16 {
		// Few rows (the late stages): split the columns too.
		nb = max(((n+workers*2-1)/(workers*2)+1)&^1, 8)
		tilesN = (n + nb - 1) / nb
		total = tilesM * tilesN
	}
	workers = min(workers, total)
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for {
				t := int(next.Add(1) - 1)
				if t >= total {
					return
				}
				// Column-block major: consecutive tiles share a B block.
				ti, tj := t%tilesM, t/tilesM
				gemmTile(ti*mb, min((ti+1)*mb, m), tj*nb, min((tj+1)*nb, n), k, a, lda, b, ldb, bias, c, ldc)
			}
		}()
	}
	wg.Wait()
}

// checkGemmArgs panics (a programming error, never a data error) when the
// slices are too short for the arguments.
func checkGemmArgs(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	switch {
	case k < 0 || lda < k || ldb < k || ldc < n:
		panic("swin: MatMulT: bad strides")
	case len(a) < (m-1)*lda+k, len(b) < (n-1)*ldb+k, len(c) < (m-1)*ldc+n:
		panic("swin: MatMulT: slice too short")
	case bias != nil && len(bias) < n:
		panic("swin: MatMulT: bias too short")
	}
}

// gemmTile computes rows [i0, i1) and columns [j0, j1) of C.
func gemmTile(i0, i1, j0, j1, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	i := i0
	for ; i+4 <= i1; i += 4 {
		a0 := a[i*lda : i*lda+k]
		a1 := a[(i+1)*lda : (i+1)*lda+k]
		a2 := a[(i+2)*lda : (i+2)*lda+k]
		a3 := a[(i+3)*lda : (i+3)*lda+k]
		c0 := c[i*ldc : i*ldc+j1]
		c1 := c[(i+1)*ldc : (i+1)*ldc+j1]
		c2 := c[(i+2)*ldc : (i+2)*ldc+j1]
		c3 := c[(i+3)*ldc : (i+3)*ldc+j1]
		j := j0
		for ; j+2 <= j1; j += 2 {
			s00, s01, s10, s11, s20, s21, s30, s31 := dot4x2(a0, a1, a2, a3, b[j*ldb:j*ldb+k], b[(j+1)*ldb:(j+1)*ldb+k])
			if bias != nil {
				b0, b1 := bias[j], bias[j+1]
				s00 += b0
				s10 += b0
				s20 += b0
				s30 += b0
				s01 += b1
				s11 += b1
				s21 += b1
				s31 += b1
			}
			c0[j], c0[j+1] = s00, s01
			c1[j], c1[j+1] = s10, s11
			c2[j], c2[j+1] = s20, s21
			c3[j], c3[j+1] = s30, s31
		}
		for ; j < j1; j++ {
			bj := b[j*ldb : j*ldb+k]
			s0, s1, s2, s3 := dot1(a0, bj), dot1(a1, bj), dot1(a2, bj), dot1(a3, bj)
			if bias != nil {
				s0 += bias[j]
				s1 += bias[j]
				s2 += bias[j]
				s3 += bias[j]
			}
			c0[j], c1[j], c2[j], c3[j] = s0, s1, s2, s3
		}
	}
	for ; i < i1; i++ {
		ai := a[i*lda : i*lda+k]
		ci := c[i*ldc : i*ldc+j1]
		for j := j0; j < j1; j++ {
			s := dot1(ai, b[j*ldb:j*ldb+k])
			if bias != nil {
				s += bias[j]
			}
			ci[j] = s
		}
	}
}

// dot4x2 returns the eight dot products of a0..a3 with b0, b1 (all of the
// same length). Eight independent accumulators keep the floating-point
// units busy without spilling registers.
func dot4x2(a0, a1, a2, a3, b0, b1 []float32) (c00, c01, c10, c11, c20, c21, c30, c31 float32) {
	n := len(a0)
	a1 = a1[:n]
	a2 = a2[:n]
	a3 = a3[:n]
	b0 = b0[:n]
	b1 = b1[:n]
	for p := range a0 {
		x0, x1, x2, x3 := a0[p], a1[p], a2[p], a3[p]
		y0, y1 := b0[p], b1[p]
		c00 += x0 * y0
		c01 += x0 * y1
		c10 += x1 * y0
		c11 += x1 * y1
		c20 += x2 * y0
		c21 += x2 * y1
		c30 += x3 * y0
		c31 += x3 * y1
	}
	return
}

// dot1 is a plain dot product, summed in the same order as dot4x2 so that
// an element of C does not depend on the tile that computed it (and so not
// on the number of goroutines).
func dot1(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for p, x := range a {
		s += x * b[p]
	}
	return s
}

// parallelFor runs body over [0, n) in contiguous chunks on up to
// GOMAXPROCS goroutines; cost is a rough per-item cost (in multiply-adds)
// that decides whether goroutines pay off.
func parallelFor(n int, cost int, body func(lo, hi int)) {
	parallelForN(runtime.GOMAXPROCS(0), n, cost, body)
}

// parallelForN is parallelFor on at most workers goroutines.
func parallelForN(workers, n int, cost int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if workers <= 1 || int64(n)*int64(max(cost, 1)) < 1<<15 || n == 1 {
		body(0, n)
		return
	}
	// A few chunks per worker even out uneven chunks.
	chunks := min(n, workers*4)
	per := (n + chunks - 1) / chunks
	chunks = (n + per - 1) / per
	var next atomic.Int64
	var wg sync.WaitGroup
	workers = min(workers, chunks)
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for {
				t := int(next.Add(1) - 1)
				if t >= chunks {
					return
				}
				body(t*per, min((t+1)*per, n))
			}
		}()
	}
	wg.Wait()
}
