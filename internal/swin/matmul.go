package swin

import (
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
// Production always runs gemm.Kernel. The seam and the capability-less
// paths stay for the tests: with a plain Go kernel (gomatmul_test.go) the
// forward pass takes the unfused passes, and the parity and determinism
// tests run on both paths, so each fusion is checked beside a computation
// that shares none of its code.
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
// row stride ldb >= n). No bias. The forward pass gives each goroutine
// whole (window, head) pairs and calls both with batch 1 on the kernel
// limited to the calling goroutine (serialMatMul). A kernel without it
// gets a loop of MatMulT calls on goroutines of the forward pass (and V
// transposed).
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
	}
	return mm
}
