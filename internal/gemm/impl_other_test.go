//go:build !amd64 || purego

package gemm

// geometryTwins: no assembly kernels here, so no twins.
func geometryTwins() []*impl { return nil }
