//go:build (!amd64 && !arm64) || purego

package gemm

// archImpls: no assembly kernels on this architecture or with -tags
// purego.
func archImpls() []*impl { return nil }
