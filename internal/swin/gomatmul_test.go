package swin

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// GoMatMul is the portable pure-Go kernel: 4×2 register tiles of dot
// products along k, column blocks of B sized to stay in cache, and
// goroutines over tiles of rows (and columns when there are few rows) for
// products large enough to pay for them. Workers is the number of
// goroutines (0: GOMAXPROCS).
type GoMatMul struct {
	Workers int
}

// parallelMACs is the product size (m*n*k) below which GoMatMul does not
// start goroutines.
const parallelMACs = 1 << 17

// MatMulT implements MatMul.
func (g GoMatMul) MatMulT(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	checkGemmArgs(m, n, k, a, lda, b, ldb, bias, c, ldc)
	// Column blocks: nb rows of B (nb*k floats) should stay in L2 while
	// every row strip of A passes over them.
	nb := n
	if limit := (64 << 10) / (4 * max(k, 1)); nb > limit {
		nb = max(limit&^1, 8)
	}
	mb := 64
	if m < mb {
		mb = m
	}
	tilesM := (m + mb - 1) / mb
	tilesN := (n + nb - 1) / nb
	workers := g.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	total := tilesM * tilesN
	if int64(m)*int64(n)*int64(k) < parallelMACs || workers == 1 || total == 1 {
		for t := 0; t < total; t++ {
			ti, tj := t%tilesM, t/tilesM
			gemmTile(ti*mb, min((ti+1)*mb, m), tj*nb, min((tj+1)*nb, n), k, a, lda, b, ldb, bias, c, ldc)
		}
		return
	}
	if total < workers*2 && tilesN == 1 && n >= 16 {
		// Few rows (the late stages): split the columns too.
		nb = max(((n+workers*2-1)/(workers*2)+1)&^1, 8)
		tilesN = (n + nb - 1) / nb
		total = tilesM * tilesN
	}
	workers = min(workers, total)
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for {
				t := int(next.Add(1) - 1)
				if t >= total {
					return
				}
				// Column-block major: consecutive tiles share a B block.
				ti, tj := t%tilesM, t/tilesM
				gemmTile(ti*mb, min((ti+1)*mb, m), tj*nb, min((tj+1)*nb, n), k, a, lda, b, ldb, bias, c, ldc)
			}
		}()
	}
	wg.Wait()
}

// checkGemmArgs panics (a programming error, never a data error) when the
// slices are too short for the arguments.
func checkGemmArgs(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	switch {
	case k < 0 || lda < k || ldb < k || ldc < n:
		panic("swin: MatMulT: bad strides")
	case len(a) < (m-1)*lda+k, len(b) < (n-1)*ldb+k, len(c) < (m-1)*ldc+n:
		panic("swin: MatMulT: slice too short")
	case bias != nil && len(bias) < n:
		panic("swin: MatMulT: bias too short")
	}
}

// gemmTile computes rows [i0, i1) and columns [j0, j1) of C.
func gemmTile(i0, i1, j0, j1, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	i := i0
	for ; i+4 <= i1; i += 4 {
		a0 := a[i*lda : i*lda+k]
		a1 := a[(i+1)*lda : (i+1)*lda+k]
		a2 := a[(i+2)*lda : (i+2)*lda+k]
		a3 := a[(i+3)*lda : (i+3)*lda+k]
		c0 := c[i*ldc : i*ldc+j1]
		c1 := c[(i+1)*ldc : (i+1)*ldc+j1]
		c2 := c[(i+2)*ldc : (i+2)*ldc+j1]
		c3 := c[(i+3)*ldc : (i+3)*ldc+j1]
		j := j0
		for ; j+2 <= j1; j += 2 {
			s00, s01, s10, s11, s20, s21, s30, s31 := dot4x2(a0, a1, a2, a3, b[j*ldb:j*ldb+k], b[(j+1)*ldb:(j+1)*ldb+k])
			if bias != nil {
				b0, b1 := bias[j], bias[j+1]
				s00 += b0
				s10 += b0
				s20 += b0
				s30 += b0
				s01 += b1
				s11 += b1
				s21 += b1
				s31 += b1
			}
			c0[j], c0[j+1] = s00, s01
			c1[j], c1[j+1] = s10, s11
			c2[j], c2[j+1] = s20, s21
			c3[j], c3[j+1] = s30, s31
		}
		for ; j < j1; j++ {
			bj := b[j*ldb : j*ldb+k]
			s0, s1, s2, s3 := dot1(a0, bj), dot1(a1, bj), dot1(a2, bj), dot1(a3, bj)
			if bias != nil {
				s0 += bias[j]
				s1 += bias[j]
				s2 += bias[j]
				s3 += bias[j]
			}
			c0[j], c1[j], c2[j], c3[j] = s0, s1, s2, s3
		}
	}
	for ; i < i1; i++ {
		ai := a[i*lda : i*lda+k]
		ci := c[i*ldc : i*ldc+j1]
		for j := j0; j < j1; j++ {
			s := dot1(ai, b[j*ldb:j*ldb+k])
			if bias != nil {
				s += bias[j]
			}
			ci[j] = s
		}
	}
}

// dot4x2 returns the eight dot products of a0..a3 with b0, b1 (all of the
// same length). Eight independent accumulators keep the floating-point
// units busy without spilling registers.
func dot4x2(a0, a1, a2, a3, b0, b1 []float32) (c00, c01, c10, c11, c20, c21, c30, c31 float32) {
	n := len(a0)
	a1 = a1[:n]
	a2 = a2[:n]
	a3 = a3[:n]
	b0 = b0[:n]
	b1 = b1[:n]
	for p := range a0 {
		x0, x1, x2, x3 := a0[p], a1[p], a2[p], a3[p]
		y0, y1 := b0[p], b1[p]
		c00 += x0 * y0
		c01 += x0 * y1
		c10 += x1 * y0
		c11 += x1 * y1
		c20 += x2 * y0
		c21 += x2 * y1
		c30 += x3 * y0
		c31 += x3 * y1
	}
	return
}

// dot1 is a plain dot product, summed in the same order as dot4x2 so that
// an element of C does not depend on the tile that computed it (and so not
// on the number of goroutines).
func dot1(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for p, x := range a {
		s += x * b[p]
	}
	return s
}
