//go:build arm64 && !purego

package gemm

import (
	"os"
	"testing"
)

// geometryTwins: the NEON kernel runs on every arm64 CPU, so it needs no
// twin here.
func geometryTwins() []*impl { return nil }

// TestDispatch checks that the best kernel is the NEON one (every arm64
// CPU has ASIMD).
func TestDispatch(t *testing.T) {
	if v := os.Getenv("GLIPCTL_GEMM"); v != "" {
		t.Skipf("GLIPCTL_GEMM=%s chooses the kernel", v)
	}
	if best != neonImpl || len(impls) != 2 {
		t.Fatalf("kernels %d, best %q, want neon then go", len(impls), best.name)
	}
}

// bitsImpl: on arm64 TestSameBitsAcrossArchitectures compares the neon
// kernel's results with the avx2 kernel's.
func bitsImpl(t *testing.T) (im *impl, write bool) { return neonImpl, false }
