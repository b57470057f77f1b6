//go:build arm64 && !purego

package gemm

import "unsafe"

// neonImpl is the NEON (ASIMD) kernel (kernel_arm64.s, gelu_arm64.s):
// 8×12 tiles in 24 V-register accumulators. Every arm64 CPU has ASIMD
// with fused multiply-add, so it is always there. kc is the x86-64
// kernels', so that the products split k the same way.
var neonImpl = &impl{
	name: "neon",
	mr:   8, nr: 12, mc: 128, kc: 256, nc: 1020,
	micro: sgemm8x12,
	gelu:  geluNEONAny,
}

// archImpls lists the assembly kernels: NEON on every arm64 CPU.
func archImpls() []*impl { return []*impl{neonImpl} }

// sgemm8x12 is impl.micro for 8×12 tiles with NEON.
//
//go:noescape
func sgemm8x12(kc int, a *float32, rsa, csa int, b *float32, c *float32, ldc int, x *float32, ldx int, bias *float32, rows, cols int)

// geluNEON is impl.gelu for cols a multiple of 4.
//
//go:noescape
func geluNEON(rows, cols int, c *float32, ldc int, res *float32, ldr int)

// geluNEONAny is impl.gelu for any cols: the last cols%4 columns go
// through the same vector code in a padded buffer, so an element's
// result does not depend on its column.
func geluNEONAny(rows, cols int, c *float32, ldc int, res *float32, ldr int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	full := cols &^ 3
	if full > 0 {
		geluNEON(rows, full, c, ldc, res, ldr)
	}
	if full == cols {
		return
	}
	cs := unsafe.Slice(c, (rows-1)*ldc+cols)
	var rs []float32
	if res != nil {
		rs = unsafe.Slice(res, (rows-1)*ldr+cols)
	}
	var buf [4]float32
	for r := 0; r < rows; r++ {
		row := cs[r*ldc+full : r*ldc+cols]
		copy(buf[:], row)
		geluNEON(1, 4, &buf[0], 4, nil, 0)
		for j := range row {
			g := buf[j]
			if rs != nil {
				g += rs[r*ldr+full+j]
			}
			row[j] = g
		}
	}
}
