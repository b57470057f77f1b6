//go:build amd64 && !purego

package gemm

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// avx2Impl is the AVX2+FMA kernel (kernel_amd64.s, gelu_amd64.s).
var avx2Impl = &impl{
	name: "avx2",
	mr:   6, nr: 16, mc: 144, kc: 256, nc: 1024,
	micro: sgemm6x16,
	gelu:  geluAVX2Any,
	t8:    packT8,
}

// avx512Impl is the AVX-512F kernel (kernel_avx512_amd64.s): 14×32 tiles
// in 28 zmm accumulators. kc is avx2Impl's, so that both split k the same
// way and give bit-identical products; GELU and the packing transposer
// are the AVX2 code (every AVX-512F CPU has AVX2 and FMA).
var avx512Impl = &impl{
	name: "avx512",
	mr:   14, nr: 32, mc: 168, kc: 256, nc: 1024,
	micro: sgemm14x32,
	gelu:  geluAVX2Any,
	t8:    packT8,
}

// archImpls lists the assembly kernels this CPU runs, best first.
func archImpls() []*impl {
	var ims []*impl
	if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA) {
		return nil
	}
	if cpu.X86.HasAVX512F {
		ims = append(ims, avx512Impl)
	}
	return append(ims, avx2Impl)
}

// sgemm14x32 is impl.micro for 14×32 tiles with AVX-512F.
//
//go:noescape
func sgemm14x32(kc int, a *float32, rsa, csa int, b *float32, c *float32, ldc int, x *float32, ldx int, bias *float32, rows, cols int)

// sgemm6x16 is impl.micro for 6×16 tiles with AVX2+FMA.
//
//go:noescape
func sgemm6x16(kc int, a *float32, rsa, csa int, b *float32, c *float32, ldc int, x *float32, ldx int, bias *float32, rows, cols int)

// packT8 is impl.t8 (pack_amd64.s).
//
//go:noescape
func packT8(n8 int, r0, r1, r2, r3, r4, r5, r6, r7 *float32, dst *float32, ldd int)

// geluAVX2 is impl.gelu for cols a multiple of 8.
//
//go:noescape
func geluAVX2(rows, cols int, c *float32, ldc int, res *float32, ldr int)

// geluAVX2Any is impl.gelu for any cols: the last cols%8 columns go
// through the same vector code in a padded buffer, so an element's
// result does not depend on its column.
func geluAVX2Any(rows, cols int, c *float32, ldc int, res *float32, ldr int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	full := cols &^ 7
	if full > 0 {
		geluAVX2(rows, full, c, ldc, res, ldr)
	}
	if full == cols {
		return
	}
	cs := unsafe.Slice(c, (rows-1)*ldc+cols)
	var rs []float32
	if res != nil {
		rs = unsafe.Slice(res, (rows-1)*ldr+cols)
	}
	var buf [8]float32
	for r := 0; r < rows; r++ {
		row := cs[r*ldc+full : r*ldc+cols]
		copy(buf[:], row)
		geluAVX2(1, 8, &buf[0], 8, nil, 0)
		for j := range row {
			g := buf[j]
			if rs != nil {
				g += rs[r*ldr+full+j]
			}
			row[j] = g
		}
	}
}
