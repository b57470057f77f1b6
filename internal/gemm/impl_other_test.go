//go:build (!amd64 && !arm64) || purego

package gemm

import "testing"

// geometryTwins: no assembly kernels here, so no twins.
func geometryTwins() []*impl { return nil }

// bitsImpl: no kernel here makes the promise of
// TestSameBitsAcrossArchitectures.
func bitsImpl(t *testing.T) (im *impl, write bool) {
	t.Skip("no assembly kernel on this architecture or with -tags purego")
	return nil, false
}
