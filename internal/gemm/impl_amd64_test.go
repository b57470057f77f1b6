//go:build amd64 && !purego

package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"golang.org/x/sys/cpu"
)

// geometryTwins are the tile and block sizes and packing of the assembly
// kernels this CPU cannot run, with a portable micro-kernel (see twin):
// the AVX-512 geometry (14×32, mc 168) is tested on AVX2-only machines
// too. The AVX-512 micro-kernel itself runs only where the CPU has
// AVX-512F (scripts/ci/avx512_emulated.sh runs these tests on an emulated
// one).
func geometryTwins() []*impl {
	if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA) || cpu.X86.HasAVX512F {
		return nil // the transposer is AVX2 code; or the kernel runs here
	}
	return []*impl{twin(avx512Impl)}
}

// TestDispatch checks that the best kernel is the widest this CPU has.
func TestDispatch(t *testing.T) {
	if v := os.Getenv("GLIPCTL_GEMM"); v != "" {
		t.Skipf("GLIPCTL_GEMM=%s chooses the kernel", v)
	}
	want := "go"
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		want = "avx512"
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		want = "avx2"
	}
	t.Logf("CPU: AVX2 %v FMA %v AVX512F %v; kernels %d, best %s", cpu.X86.HasAVX2, cpu.X86.HasFMA, cpu.X86.HasAVX512F, len(impls), best.name)
	if best.name != want {
		t.Fatalf("best kernel %q, want %q", best.name, want)
	}
}

// TestAssemblyKernelsAgree checks that every assembly kernel this CPU
// runs gives the same bits as the AVX2 kernel (same k slices, one FMA
// chain per element in increasing k, then + bias, + x): a forward pass
// gives the same features on any x86-64 CPU with FMA.
func TestAssemblyKernelsAgree(t *testing.T) {
	var others []*impl
	for _, im := range impls {
		if im != avx2Impl && im != goImpl {
			others = append(others, im)
		}
	}
	if len(others) == 0 || !(cpu.X86.HasAVX2 && cpu.X86.HasFMA) {
		t.Skipf("this CPU runs no assembly kernel besides avx2 (AVX512F %v): scripts/ci/avx512_emulated.sh runs this test on an emulated AVX-512 CPU", cpu.X86.HasAVX512F)
	}
	// Every shape, also with -short: no float64 reference here, so even
	// the largest is quick (and under emulation it is the only run of
	// the AVX-512 kernel on a product with several column blocks).
	for _, im := range others {
		for _, s := range shapes {
			t.Run(fmt.Sprintf("%s/%dx%dx%d+%d", im.name, s.m, s.n, s.k, s.pad), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(s.m), uint64(s.n+s.k)))
				o := makeOperands(r, s, true)
				res := randSlice(r, s.m*s.n)
				for _, ep := range []Epilogue{{}, {Bias: o.bias}, {Bias: o.bias, Residual: res, LdResidual: s.n}, {Bias: o.bias, GELU: true, Residual: res, LdResidual: s.n}} {
					want := slices32(o.c)
					got := slices32(o.c)
					Kernel{impl: avx2Impl}.MatMulTEpilogue(s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, want, o.ldc, ep)
					Kernel{impl: im}.MatMulTEpilogue(s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, got, o.ldc, ep)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("bias %v residual %v gelu %v: element %d (row %d): %g, avx2 %g", ep.Bias != nil, ep.Residual != nil, ep.GELU, i, i/o.ldc, got[i], want[i])
						}
					}
				}
			})
		}
	}
}

func slices32(s []float32) []float32 { return append([]float32(nil), s...) }

// bitsImpl: on amd64 TestSameBitsAcrossArchitectures writes the avx2
// kernel's results, the reference of the other architectures.
func bitsImpl(t *testing.T) (im *impl, write bool) {
	if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA) {
		t.Fatal("writing the reference needs the avx2 kernel: this CPU has no AVX2+FMA")
	}
	return avx2Impl, true
}
