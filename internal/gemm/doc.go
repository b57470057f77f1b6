// Package gemm is a fast single-precision matrix product for the Swin
// forward pass.
//
// Kernel.MatMulT implements exactly the contract of swin.MatMul
// (C = A·Bᵀ + bias on row-major float32 matrices with row strides, C
// overwritten, safe for concurrent use, the same result for the same
// arguments on every call) without importing package swin. Next to it:
//
//   - MatMulTEpilogue fuses the bias, an exact erf GELU and a residual
//     addition into the store of each register tile, while the tile is
//     still in L1, instead of separate passes over C (stage 1's fc1 with
//     GELU, 3136×384×96: about 30% less time fused than MatMulT followed
//     by GELU, and little more than the product alone).
//   - BatchMatMulT and BatchMatMul run many small products (the window
//     attention: windows × heads products of 49×49×32) in parallel over
//     the batch, each product on one goroutine.
//   - MatMul is C = A·B with B stored k×n (row-major, read along n). It
//     spares attention·V the transposition of V into a scratch buffer:
//     packing B panels from a k×n matrix copies rows, while A·Bᵀ has to
//     transpose B's rows.
//   - PackBT packs a B operand (a layer's weights) once into the panels
//     the kernel reads; MatMulTPacked multiplies by it with the epilogue
//     of MatMulTEpilogue and skips the per-call packing (a transposition
//     of B, about a tenth of a Swin-T forward pass before).
//   - GELU applies the same exact GELU in place to a slice.
//
// # Design
//
// The products follow the BLIS/GotoBLAS scheme. C is cut into column
// blocks of nc, k into slices of at most kc, rows into blocks of mc. For
// each (column block, k slice) the kc×nc piece of B is packed into
// nr-wide panels (p-major: the nr values of one k index are contiguous),
// and for each row block the mc×kc piece of A into mr-tall panels; the
// micro-kernel then computes mr×nr tiles of C from one A panel (streamed
// from L2) and one B panel (kept in L1), summing along k in registers.
// When a row block meets at most 8 B panels (n <= 128), packing A costs
// more than it saves and the kernel reads A in place (rows at stride lda).
// Edge tiles are computed whole and stored through masks, never through
// a copy.
//
// The sum over k of an element of C is always done in the same order: k
// slices fixed by k alone, increasing k within a slice, one FMA
// accumulator per element, the bias added to the first slice's sum,
// later slices added to C. So an element does not depend on the tile, the
// block or the goroutine that computed it: results are bitwise the same
// for any number of workers, and a batched product equals the same
// product computed alone.
//
// Parallelism: C is split into a grid of rectangles, one per goroutine
// (at most Workers, by default GOMAXPROCS), each packing what it needs
// into buffers of its own. The grid comes from a cost model (multiply-adds
// of the largest rectangle including tile padding, plus packing, plus a
// fixed cost per goroutine), so small products run inline on the calling
// goroutine. The goroutines are helpers started once and kept, fed through
// a channel: a parallel call starts none, and when all helpers are busy
// the caller does the work itself. (Sharing each packed B slice between
// goroutines, with a phase barrier per slice, measured slower on 2 cores
// than packing B twice.) Packing buffers come from a bounded free list and
// the per-call state from a sync.Pool: no allocation per call in steady
// state.
//
// Kernels are chosen at run time (on amd64 with golang.org/x/sys/cpu),
// the widest first:
//
//   - avx512: Go assembly for AVX-512F. 14×32 tiles: 28 zmm accumulators,
//     two B vectors and one A broadcast in flight per k step, unrolled 4
//     times; edge tiles stored through opmask registers (masked loads of
//     bias and residual, masked stores of C). mc=168, kc=256, nc=1024.
//     kc is the avx2 kernel's, and both do one FMA chain per element in
//     increasing k, then + bias, + residual: the two give bit-identical
//     products, so a forward pass gives the same features on any x86-64
//     CPU with FMA. GELU and the packing transposer are the AVX2 code.
//     CI machines need not have AVX-512: the kernel is tested on an
//     emulated Skylake-X (scripts/ci/avx512_emulated.sh runs this package's
//     tests in Bochs), and its packing and blocking on every amd64 machine
//     (the tests' geometry twin: 14×32 with a portable micro-kernel). On
//     the AVX-512 Xeon of docs/benchmarks.md it runs SGEMM 1024³ at 0.9x
//     OpenBLAS on two cores and 1.0x on one, and the Swin-T products at
//     1.4-2.2x the avx2 kernel; its blocking is the avx2 kernel's, not
//     tuned for that CPU.
//   - avx2: Go assembly for AVX2+FMA. 6×16 tiles: 12 ymm accumulators,
//     two B vectors and one A broadcast in flight per k step, unrolled 4
//     times, with prefetches of A and B ahead and of the C tile; mc=144,
//     kc=256, nc=1024: an A block of 144×256 floats (144 KiB) stays in the
//     512 KiB L2, a B panel of 256×16 floats (16 KiB) in the 32 KiB L1, a
//     B slice of 256×1024 floats (1 MiB) in L3. Packing transposes 8×8
//     blocks in assembly. GELU is vectorised in assembly (gelu_amd64.s,
//     about 1.2 ns a value on one core, like torch's own GELU; the same
//     GELU in Go with float64 math is 25 times slower).
//   - neon: Go assembly for arm64's ASIMD, which every arm64 CPU has, so
//     it is always chosen there. 8×12 tiles: 24 accumulators (V8..V31);
//     a k step loads 12 floats of the B panel and the 8 A values (two
//     vector loads from a packed panel, used by lane; eight broadcast
//     loads from A read in place) and does 24 FMLAs; edge tiles are
//     spilled to the frame and stored float by float. mc=128, kc=256,
//     nc=1020 (for a 1 MiB L2 and a 64 KiB L1; not tuned). The Go
//     assembler lacks most vector floating-point instructions: they are
//     instruction words (neon_arm64.h). What holds across architectures:
//     kc is the x86-64 kernels', FMLA rounds once as VFMADD does, and
//     every element is one fused chain in increasing k, then the bias
//     and the residual are added, so the products are bit for bit the
//     avx2 kernel's;
//     GELU (gelu_arm64.s) does the operations of gelu_amd64.s in the
//     same order (the same polynomials, an FMA where it has one, the
//     same division and rounding to nearest even) four lanes at a time,
//     so it gives the same bits too (NaN payloads aside). Whole forward
//     passes are not promised the same bits on both: the rest of them is
//     Go code, which the compiler fuses into FMAs on arm64 and not on
//     amd64. No machine of this project is arm64: the kernel is tested
//     under qemu-user (scripts/ci/arm64_emulated.sh runs this package's
//     tests on an emulated arm64, and compares the neon kernel's results
//     on every test shape with a file of the avx2 kernel's, bit for
//     bit), and its speed has not been measured on real hardware.
//   - go: portable pure Go on the same packed layout and tile shape as
//     avx2, used on other architectures and with -tags purego.
//
// GLIPCTL_GEMM=avx2 or GLIPCTL_GEMM=go picks a narrower kernel than the
// CPU allows (for a comparison, or where the wide one is slower); on
// arm64 GLIPCTL_GEMM=go picks the portable kernel. An unknown or
// unavailable name is ignored.
package gemm
