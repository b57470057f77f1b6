package gemm

import (
	"math"
	"os"
	"unsafe"
)

// impl is one micro-kernel with its tile and block sizes.
type impl struct {
	name   string
	mr, nr int // register tile of C
	mc     int // rows of a packed A block (multiple of mr)
	kc     int // depth of a packed slice
	nc     int // columns of a packed B slice (multiple of nr)

	// micro computes an mr×nr tile and stores its rows×cols corner
	// (rows <= mr, cols <= nr):
	//
	//	acc[r][j] = Σ_{p<kc} A(r, p) · b[p*nr+j]
	//	c[r*ldc+j] = (acc[r][j] + bias[j]) + x[r*ldx+j]    r < rows, j < cols
	//
	// where A(r, p) = a[r*rsa+p*csa] for all r < mr, bias and x are
	// optional (nil) and x may be c itself; nothing of c, x and bias
	// outside rows×cols is read or written. The sum over p is in
	// increasing p order, one accumulator per element, whatever rows and
	// cols are.
	micro func(kc int, a *float32, rsa, csa int, b *float32, c *float32, ldc int, x *float32, ldx int, bias *float32, rows, cols int)

	// t8, if not nil, transposes 8 rows (see packT8 in pack_amd64.s) for
	// the packing of full panels; nil: plain Go loops.
	t8 func(n8 int, r0, r1, r2, r3, r4, r5, r6, r7 *float32, dst *float32, ldd int)

	// gelu sets c[r*ldc+j] = GELU(c[r*ldc+j]) (+ res[r*ldr+j] when res
	// is not nil) for r < rows, j < cols.
	gelu func(rows, cols int, c *float32, ldc int, res *float32, ldr int)
}

// impls lists the kernels this binary has and this CPU runs, best first
// (archImpls, from the architecture's file, then the portable one); best
// is the first.
var (
	impls []*impl
	best  *impl
)

// goImpl is the portable kernel.
var goImpl = &impl{
	name: "go",
	mr:   6, nr: 16, mc: 144, kc: 256, nc: 1024,
	micro: microGo,
	gelu:  geluGo,
}

func init() {
	impls = append(archImpls(), goImpl)
	best = pickImpl(impls, os.Getenv("GLIPCTL_GEMM"))
}

// pickImpl returns the kernel of ims named name, or the first if none is.
func pickImpl(ims []*impl, name string) *impl {
	for _, im := range ims {
		if im.name == name {
			return im
		}
	}
	return ims[0]
}

// packA packs rows [i0, i0+mb) and columns [pc, pc+kb) of A into mr-row
// panels, p-major: dst[pan*mr*kb + p*mr + r] = A[i0+pan*mr+r][pc+p], rows
// past mb zero.
func packA(im *impl, dst, a []float32, lda, i0, mb, pc, kb int) {
	if kb == 0 {
		return
	}
	mr := im.mr
	for pan := 0; pan*mr < mb; pan++ {
		d := dst[pan*mr*kb : (pan+1)*mr*kb]
		rows := min(mr, mb-pan*mr)
		base := (i0+pan*mr)*lda + pc
		if rows == mr && im.t8 != nil && kb >= 8 {
			// Groups of 8 rows from the last group up; a group with
			// fewer than 8 rows repeats its last row, and each 8-float
			// store of it overwrites the first floats of the next k
			// index (rewritten by the groups above, packed after) or,
			// at the last one, writes them past the panel (into the
			// next panel, packed after, or the buffer's slack).
			kb8 := kb &^ 7
			for h := (mr - 1) &^ 7; h >= 0; h -= 8 {
				var r [8]*float32
				for i := range r {
					r[i] = &a[base+min(h+i, mr-1)*lda]
				}
				im.t8(kb8/8, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], &d[h], mr)
			}
			for r := 0; r < mr; r++ {
				src := a[base+r*lda+kb8 : base+r*lda+kb]
				for p, v := range src {
					d[(kb8+p)*mr+r] = v
				}
			}
			continue
		}
		if mr == 6 && rows == 6 {
			r0 := a[base : base+kb]
			r1 := a[base+lda : base+lda+kb]
			r2 := a[base+2*lda : base+2*lda+kb]
			r3 := a[base+3*lda : base+3*lda+kb]
			r4 := a[base+4*lda : base+4*lda+kb]
			r5 := a[base+5*lda : base+5*lda+kb]
			for p := range r0 {
				q := d[p*6 : p*6+6 : p*6+6]
				q[0], q[1], q[2], q[3], q[4], q[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
			}
			continue
		}
		if rows < mr {
			clear(d)
		}
		for r := 0; r < rows; r++ {
			src := a[base+r*lda : base+r*lda+kb]
			for p, v := range src {
				d[p*mr+r] = v
			}
		}
	}
}

// packBT packs rows [j0, j0+nb) and columns [pc, pc+kb) of an n×k B into
// nr-wide panels: dst[pan*nr*kb + p*nr + j] = B[j0+pan*nr+j][pc+p], j past
// nb zero.
func packBT(im *impl, dst, b []float32, ldb, j0, nb, pc, kb int) {
	if kb == 0 {
		return
	}
	nr := im.nr
	for pan := 0; pan*nr < nb; pan++ {
		d := dst[pan*nr*kb : (pan+1)*nr*kb]
		cols := min(nr, nb-pan*nr)
		base := (j0+pan*nr)*ldb + pc
		if cols < nr {
			clear(d)
		}
		j := 0
		if nr%8 == 0 && cols == nr && im.t8 != nil && kb >= 8 {
			kb8 := kb &^ 7
			for h := 0; h < nr; h += 8 {
				r := base + h*ldb
				im.t8(kb8/8, &b[r], &b[r+ldb], &b[r+2*ldb], &b[r+3*ldb], &b[r+4*ldb], &b[r+5*ldb], &b[r+6*ldb], &b[r+7*ldb], &d[h], nr)
			}
			for jj := 0; jj < nr; jj++ {
				src := b[base+jj*ldb+kb8 : base+jj*ldb+kb]
				for p, v := range src {
					d[(kb8+p)*nr+jj] = v
				}
			}
			continue
		}
		for ; j+4 <= cols; j += 4 {
			r0 := b[base+j*ldb : base+j*ldb+kb]
			r1 := b[base+(j+1)*ldb : base+(j+1)*ldb+kb]
			r2 := b[base+(j+2)*ldb : base+(j+2)*ldb+kb]
			r3 := b[base+(j+3)*ldb : base+(j+3)*ldb+kb]
			for p := range r0 {
				q := d[p*nr+j : p*nr+j+4 : p*nr+j+4]
				q[0], q[1], q[2], q[3] = r0[p], r1[p], r2[p], r3[p]
			}
		}
		for ; j < cols; j++ {
			src := b[base+j*ldb : base+j*ldb+kb]
			for p, v := range src {
				d[p*nr+j] = v
			}
		}
	}
}

// packBN packs columns [j0, j0+nb) and rows [pc, pc+kb) of a k×n B into
// nr-wide panels: dst[pan*nr*kb + p*nr + j] = B[pc+p][j0+pan*nr+j], j past
// nb zero.
func packBN(im *impl, dst, b []float32, ldb, j0, nb, pc, kb int) {
	if kb == 0 {
		return
	}
	nr := im.nr
	for pan := 0; pan*nr < nb; pan++ {
		d := dst[pan*nr*kb : (pan+1)*nr*kb]
		cols := min(nr, nb-pan*nr)
		col := j0 + pan*nr
		for p := 0; p < kb; p++ {
			row := (pc+p)*ldb + col
			q := d[p*nr : p*nr+nr]
			copy(q, b[row:row+cols])
			clear(q[cols:])
		}
	}
}

// microGo is the portable micro-kernel for 6×16 tiles: 2×4 blocks of
// scalar accumulators (what fits in registers), each summed along p.
func microGo(kc int, a *float32, rsa, csa int, b *float32, c *float32, ldc int, x *float32, ldx int, bias *float32, rows, cols int) {
	const mr, nr = 6, 16
	var acc [mr * nr]float32
	if kc > 0 && rsa == 1 && csa == mr {
		// Packed A: walk both panels with constant offsets, so that
		// the compiler drops the bounds checks.
		as := unsafe.Slice(a, kc*mr)
		bs := unsafe.Slice(b, kc*nr)
		for r := 0; r < mr; r += 2 {
			for j := 0; j < nr; j += 4 {
				var s00, s01, s02, s03, s10, s11, s12, s13 float32
				ap, bp := as[r:], bs[j:]
				for p := 0; p < kc; p++ {
					x := ap[:2:2]
					y := bp[:4:4]
					a0, a1 := x[0], x[1]
					b0, b1, b2, b3 := y[0], y[1], y[2], y[3]
					s00 += a0 * b0
					s01 += a0 * b1
					s02 += a0 * b2
					s03 += a0 * b3
					s10 += a1 * b0
					s11 += a1 * b1
					s12 += a1 * b2
					s13 += a1 * b3
					if p+1 < kc {
						ap, bp = ap[mr:], bp[nr:]
					}
				}
				t := acc[r*nr+j : r*nr+j+4 : r*nr+j+4]
				t[0], t[1], t[2], t[3] = s00, s01, s02, s03
				t = acc[(r+1)*nr+j : (r+1)*nr+j+4 : (r+1)*nr+j+4]
				t[0], t[1], t[2], t[3] = s10, s11, s12, s13
			}
		}
	} else if kc > 0 {
		as := unsafe.Slice(a, (mr-1)*rsa+(kc-1)*csa+1)
		bs := unsafe.Slice(b, kc*nr)
		for r := 0; r < mr; r += 2 {
			for j := 0; j < nr; j += 4 {
				var s00, s01, s02, s03, s10, s11, s12, s13 float32
				i0, i1 := r*rsa, (r+1)*rsa
				for p := 0; p < kc; p++ {
					a0, a1 := as[i0], as[i1]
					q := bs[p*nr+j : p*nr+j+4 : p*nr+j+4]
					b0, b1, b2, b3 := q[0], q[1], q[2], q[3]
					s00 += a0 * b0
					s01 += a0 * b1
					s02 += a0 * b2
					s03 += a0 * b3
					s10 += a1 * b0
					s11 += a1 * b1
					s12 += a1 * b2
					s13 += a1 * b3
					i0 += csa
					i1 += csa
				}
				t := acc[r*nr+j : r*nr+j+4 : r*nr+j+4]
				t[0], t[1], t[2], t[3] = s00, s01, s02, s03
				t = acc[(r+1)*nr+j : (r+1)*nr+j+4 : (r+1)*nr+j+4]
				t[0], t[1], t[2], t[3] = s10, s11, s12, s13
			}
		}
	}
	if bias != nil {
		bv := unsafe.Slice(bias, cols)
		for r := 0; r < rows; r++ {
			row := acc[r*nr : r*nr+cols]
			for j := range row {
				row[j] += bv[j]
			}
		}
	}
	if x != nil {
		xs := unsafe.Slice(x, (rows-1)*ldx+cols)
		for r := 0; r < rows; r++ {
			row := acc[r*nr : r*nr+cols]
			xr := xs[r*ldx : r*ldx+cols]
			for j := range row {
				row[j] += xr[j]
			}
		}
	}
	cs := unsafe.Slice(c, (rows-1)*ldc+cols)
	for r := 0; r < rows; r++ {
		copy(cs[r*ldc:r*ldc+cols], acc[r*nr:r*nr+cols])
	}
}

// geluGo is the portable GELU epilogue: float64 arithmetic rounded once to
// float32 (geluFast).
func geluGo(rows, cols int, c *float32, ldc int, res *float32, ldr int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	cs := unsafe.Slice(c, (rows-1)*ldc+cols)
	var rs []float32
	if res != nil {
		rs = unsafe.Slice(res, (rows-1)*ldr+cols)
	}
	for r := 0; r < rows; r++ {
		row := cs[r*ldc : r*ldc+cols]
		for j, v := range row {
			g := float32(geluFast(float64(v)))
			if rs != nil {
				g += rs[r*ldr+j]
			}
			row[j] = g
		}
	}
}

// geluR holds the coefficients of R(t), t^0 first: a degree-9 fit with
// relative error 1.9e-8 to erfc(z)·exp(z²)/t, t = 1/(1+z/2), for t in
// [0.17, 1] (z <= 9.76); gelu_amd64.s uses the same polynomial.
var geluR = [10]float64{
	0.28206273913383484, 0.282893568277359, 0.2383224070072174, 0.2271265834569931, -0.1031092032790184,
	0.430543452501297, -0.6815296411514282, 0.4377954304218292, -0.1271141618490219, 0.013008806854486465,
}

// geluFast is GELU(x) = x - q for x > 0, q for x <= 0, where
// q = x·erfc(|x|/√2)/2 = x/2·exp(-x²/2)·t·R(t): within 2e-8 relative of
// the exact value, and several times faster than math.Erfc.
func geluFast(x float64) float64 {
	z := math.Abs(x) * (1 / math.Sqrt2)
	if !(z <= 9.3) {
		// exp(-z²) < 2.7e-38: GELU is x, 0, or NaN.
		switch {
		case x > 0:
			return x
		case x < 0:
			return 0
		}
		return x
	}
	t := 1 / (1 + 0.5*z)
	r := geluR[9]
	for i := 8; i >= 0; i-- {
		r = r*t + geluR[i]
	}
	q := 0.5 * x * t * r * math.Exp(-0.5*x*x)
	if x > 0 {
		return x - q
	}
	return q
}

// geluF64 is the exact GELU x·Φ(x) = x/2·erfc(-x/√2), 0 at -Inf (the
// limit; the formula gives NaN there).
func geluF64(x float64) float64 {
	if math.IsInf(x, -1) {
		return 0
	}
	return 0.5 * x * math.Erfc(-x*(1/math.Sqrt2))
}

// GELU applies the exact GELU x/2·(1+erf(x/√2)) (torch.nn.GELU()) to x in
// place, with the vectorised code of the best kernel for this CPU: within
// a few float32 ulps of the exact value wherever it is a normal float32
// (also in the tail x < -3, where x/2·(1+erf(x/√2)) computed as written
// loses all accuracy). GELU(NaN) is NaN, GELU(+Inf) = +Inf and
// GELU(-Inf) = 0, the limit (torch gives NaN).
func GELU(x []float32) { Kernel{}.GELU(x) }

// GELU applies the exact GELU to x in place with the Kernel's code.
func (kr Kernel) GELU(x []float32) {
	if len(x) == 0 {
		return
	}
	kr.pick().gelu(1, len(x), &x[0], len(x), nil, 0)
}
