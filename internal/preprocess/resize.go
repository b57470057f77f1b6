package preprocess

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/glipctl/glipctl/internal/parallel"
)

// Resize returns the image resized to w×h the way PIL's
// Image.resize((w, h), Image.BILINEAR) does on an RGB image, to the bit:
// a separable triangle filter whose support grows with the scale when
// downscaling (antialiasing, unlike OpenCV's INTER_LINEAR), coefficients
// normalised per output pixel and rounded to 22-bit fixed point, a
// horizontal pass rounded to 8 bits and then a vertical pass. A side that
// keeps its size is not filtered.
func (m *Image) Resize(w, h int) (*Image, error) {
	return m.resizePIL(w, h, Bilinear)
}

// pilFilter is one of Pillow's resampling filters: its kernel and support
// (the kernel's half-width at scale 1).
type pilFilter struct {
	kernel  func(float64) float64
	support float64
}

var (
	pilBilinear = pilFilter{bilinear, 1}
	pilBicubic  = pilFilter{bicubic, 2}
)

// resizePIL is Image.resize((w, h), BILINEAR or BICUBIC) on an RGB image
// (see Resize; BICUBIC is the same scheme with the Keys kernel, a = -0.5,
// and twice the support), on all cores for a large image.
func (m *Image) resizePIL(w, h int, interp Interp) (*Image, error) {
	return m.resizePILOn(spread{}, w, h, interp)
}

// spread is how a resize shares its rows among goroutines: at most
// workers of them (0: GOMAXPROCS), and only for a pass long enough to pay
// for them (parallel.MinWork) unless always is set (tests).
type spread struct {
	workers int
	always  bool
}

// rows runs body over [0, n), each index costing about cost multiply-adds,
// as s says (parallel.For).
func (s spread) rows(n, cost int, body func(lo, hi int)) {
	if s.always {
		cost = parallel.MinWork
	}
	parallel.For(s.workers, n, cost, body)
}

// resizePILOn is resizePIL with its rows spread as sp says. Every row is
// computed the same way whatever the split, so the bytes do not depend on
// sp.
func (m *Image) resizePILOn(sp spread, w, h int, interp Interp) (*Image, error) {
	filter := pilBilinear
	if interp == Bicubic {
		filter = pilBicubic
	}
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels {
		return nil, fmt.Errorf("resize to %dx%d: size is empty or too large", w, h)
	}
	if w == m.W && h == m.H {
		return &Image{W: w, H: h, Pix: append([]uint8(nil), m.Pix...)}, nil
	}
	src := m
	ks, bounds, coeffs := precomputeCoeffs(m.H, h, filter)
	if w != m.W {
		// Only the source rows the vertical pass reads are filtered.
		first := bounds[0]
		last := bounds[2*(h-1)] + bounds[2*(h-1)+1]
		tmp := &Image{W: w, H: last - first, Pix: make([]uint8, w*(last-first)*3)}
		resampleHorizontal(sp, tmp, m, first, newPILWindows(m.W, w, filter))
		for i := 0; i < h; i++ {
			bounds[2*i] -= first
		}
		src = tmp
	}
	if h == m.H {
		return src, nil
	}
	out := &Image{W: w, H: h, Pix: make([]uint8, w*h*3)}
	resampleVertical(sp, out, src, ks, bounds, coeffs)
	return out, nil
}

// precisionBits is the fixed-point precision of PIL's 8-bit resampling
// coefficients (32 - 8 - 2).
const precisionBits = 32 - 8 - 2

// precomputeCoeffs computes, for each of outSize output pixels, the first
// input pixel and the count of input pixels it reads (bounds[2i],
// bounds[2i+1]) and their fixed-point weights (coeffs[i*ksize : ...]), as
// PIL's precompute_coeffs and normalize_coeffs_8bpc do for filter over
// the whole input (box 0..inSize).
func precomputeCoeffs(inSize, outSize int, filter pilFilter) (ksize int, bounds []int, coeffs []int32) {
	support0 := filter.support
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := support0 * filterscale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*outSize)
	coeffs = make([]int32, outSize*ksize)
	k := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := float64((float64(xx) + 0.5) * scale)
		ss := 1.0 / filterscale
		// C's (int) truncates toward zero, as Go's conversion does.
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			wt := filter.kernel(float64((float64(x+xmin) - center + 0.5) * ss))
			k[x] = wt
			ww += wt
		}
		for x := 0; x < ksize; x++ {
			v := 0.0
			if x < xmax {
				v = k[x]
				if ww != 0 {
					v /= ww
				}
			}
			if v < 0 {
				coeffs[xx*ksize+x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				coeffs[xx*ksize+x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		bounds[2*xx] = xmin
		bounds[2*xx+1] = xmax
	}
	return ksize, bounds, coeffs
}

func bilinear(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// bicubic is Pillow's bicubic_filter: Keys' cubic convolution with
// a = -0.5, every product rounded on its own (no fused multiply-add).
func bicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		t := float64((a+2)*x) - (a + 3)
		t = float64(t * x)
		return float64(t*x) + 1
	}
	if x < 2 {
		t := float64((x-5)*x) + 8
		t = float64(t*x) - 4
		return t * a
	}
	return 0
}

// clip8 turns a fixed-point accumulator into a byte as PIL's clip8 does:
// 0 for a sum at or below 0, 255 from 255.0 up, else its integer part.
func clip8(v int32) uint8 {
	return clip8Tab[(v>>precisionBits)&1023]
}

// clip8Tab[i&1023] is i clamped to 0..255 for i in -512..511, the range of
// an int32 shifted right by precisionBits.
var clip8Tab = func() (t [1024]uint8) {
	for i := range t {
		t[i] = uint8(min(i, 255))
		if i >= 512 {
			t[i] = 0
		}
	}
	return t
}()

// pilWindows is a horizontal pass's coefficients laid out for its inner
// loop: every output pixel x reads the same number n of source pixels (the
// longest of PIL's windows), from pixel start[x] of the row, with weights
// k[x*n : x*n+n]. It is PIL's window of the pixel widened with zero
// weights to n and, where that would run past the row's end, moved left
// (zero weights first): the zero terms add nothing to the integer sums, so
// the result is PIL's.
type pilWindows struct {
	n     int
	start []int
	k     []int64
}

// newPILWindows lays out the coefficients of resizing inSize pixels to
// outSize with filter (precomputeCoeffs) as pilWindows.
func newPILWindows(inSize, outSize int, filter pilFilter) *pilWindows {
	ksize, bounds, coeffs := precomputeCoeffs(inSize, outSize, filter)
	n := 0 // the longest window (at most ksize and inSize)
	for x := range outSize {
		n = max(n, bounds[2*x+1])
	}
	win := &pilWindows{n: n, start: make([]int, outSize), k: make([]int64, outSize*n)}
	for x := range outSize {
		xmin, xmax := bounds[2*x], bounds[2*x+1]
		x0 := min(xmin, inSize-n)
		win.start[x] = x0
		k := win.k[x*n : (x+1)*n]
		for j, c := range coeffs[x*ksize : x*ksize+xmax] {
			k[xmin-x0+j] = int64(c)
		}
	}
	return win
}

// resampleHorizontal fills out (out.H rows) from rows offset.. of in, two
// rows at a time (see dotPair), the pairs spread as sp says.
func resampleHorizontal(sp spread, out, in *Image, offset int, win *pilWindows) {
	is, os := in.W*3, out.W*3
	pairs := (out.H + 1) / 2
	sp.rows(pairs, 2*os*win.n, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			y := 2 * p
			ra := pixels(in.Pix[(y+offset)*is : (y+offset+1)*is])
			oa := pixels(out.Pix[y*os : (y+1)*os])
			if y+1 < out.H {
				rb := pixels(in.Pix[(y+offset+1)*is : (y+offset+2)*is])
				horizontalPair(oa, pixels(out.Pix[(y+1)*os:(y+2)*os]), ra, rb, win)
			} else {
				horizontalPair(oa, nil, ra, ra, win)
			}
		}
	})
}

// pixels views a row of 3-byte pixels as such (len(row) a multiple of 3).
func pixels(row []uint8) [][3]uint8 {
	if len(row) == 0 {
		return nil
	}
	return unsafe.Slice((*[3]uint8)(unsafe.Pointer(&row[0])), len(row)/3)
}

// horizontalPair filters source rows ra and rb into output rows oa and ob
// (ob nil: rb is ra again and its result is dropped).
func horizontalPair(oa, ob, ra, rb [][3]uint8, win *pilWindows) {
	n := win.n
	oa = oa[:len(win.start)]
	if ob != nil {
		ob = ob[:len(oa)]
	}
	for x, st := range win.start {
		s0, s1, s2 := dotPair(ra[st:st+n], rb[st:st+n], win.k[x*n:x*n+n])
		a0, a1, a2 := int32(s0), int32(s1), int32(s2)
		oa[x] = [3]uint8{clip8(a0), clip8(a1), clip8(a2)}
		if ob != nil {
			ob[x] = [3]uint8{clip8(hiLane(s0, a0)), clip8(hiLane(s1, a1)), clip8(hiLane(s2, a2))}
		}
	}
}

// dotPair returns, for each of the 3 channels, PIL's fixed-point sum
// (rounding term included) of the pixels of pa and of pb weighted by k,
// both in one int64: the sum of pa in the low 32 bits (as an int32) and
// that of pb above it (hiLane). Each product (a + b<<32)*c is a*c +
// (b*c)<<32, so the int64 adds up both sums at once, exactly, as long as
// each fits an int32 (PIL's accumulators are int32: they do).
//
// It is a function of its own so that its loop keeps everything in
// registers.
func dotPair(pa, pb [][3]uint8, k []int64) (s0, s1, s2 int64) {
	const half = 1 << (precisionBits - 1)
	const h2 = half | half<<32
	s0, s1, s2 = h2, h2, h2
	pa, pb = pa[:len(k)], pb[:len(k)]
	for j, c := range k {
		a, b := &pa[j], &pb[j]
		s0 += int64(uint64(a[0])|uint64(b[0])<<32) * c
		s1 += int64(uint64(a[1])|uint64(b[1])<<32) * c
		s2 += int64(uint64(a[2])|uint64(b[2])<<32) * c
	}
	return s0, s1, s2
}

// hiLane is the high sum of a two-lane int64 s whose low sum is lo.
func hiLane(s int64, lo int32) int32 {
	return int32((s - int64(lo)) >> 32)
}

// resampleVertical fills out from in, one output row at a time (the rows
// spread as sp says): the weighted input rows are accumulated in int32 in
// the order of their weights (the sums are exact, so the order is PIL's
// result).
func resampleVertical(sp spread, out, in *Image, ksize int, bounds []int, coeffs []int32) {
	stride := in.W * 3
	sp.rows(out.H, stride*ksize, func(lo, hi int) {
		acc := make([]int32, stride)
		for yy := lo; yy < hi; yy++ {
			ymin, ymax := bounds[2*yy], bounds[2*yy+1]
			verticalRow(out.Pix[yy*stride:(yy+1)*stride], in.Pix[ymin*stride:(ymin+ymax)*stride], coeffs[yy*ksize:yy*ksize+ymax], acc)
		}
	})
}

// verticalRow fills orow from the len(k) rows of rows weighted by k, with
// acc (a row of int32) as the accumulator: two rows per sweep, the first
// sweep setting acc and the last one writing orow.
func verticalRow(orow, rows []uint8, k []int32, acc []int32) {
	const half = 1 << (precisionBits - 1)
	stride := len(orow)
	row := func(y int) []uint8 { return rows[y*stride : (y+1)*stride] }
	switch len(k) {
	case 1:
		r0, c0 := row(0), k[0]
		for i, v := range r0 {
			orow[i] = clip8(half + int32(v)*c0)
		}
		return
	case 2:
		r0, r1, c0, c1 := row(0), row(1), k[0], k[1]
		r1 = r1[:len(r0)]
		for i, v := range r0 {
			orow[i] = clip8(half + int32(v)*c0 + int32(r1[i])*c1)
		}
		return
	}
	acc = acc[:stride]
	r0, r1, c0, c1 := row(0), row(1), k[0], k[1]
	r0, r1 = r0[:len(acc)], r1[:len(acc)]
	for i := range acc {
		acc[i] = half + int32(r0[i])*c0 + int32(r1[i])*c1
	}
	y := 2
	for ; y+2 < len(k); y += 2 {
		r0, r1, c0, c1 := row(y), row(y+1), k[y], k[y+1]
		r0, r1 = r0[:len(acc)], r1[:len(acc)]
		for i := range acc {
			acc[i] += int32(r0[i])*c0 + int32(r1[i])*c1
		}
	}
	if y+1 < len(k) {
		r0, r1, c0, c1 := row(y), row(y+1), k[y], k[y+1]
		r0, r1, orow = r0[:len(acc)], r1[:len(acc)], orow[:len(acc)]
		for i, s := range acc {
			orow[i] = clip8(s + int32(r0[i])*c0 + int32(r1[i])*c1)
		}
		return
	}
	r0, c0 = row(y), k[y]
	r0, orow = r0[:len(acc)], orow[:len(acc)]
	for i, s := range acc {
		orow[i] = clip8(s + int32(r0[i])*c0)
	}
}

// ResizeMode says how an image is resized before normalisation.
type ResizeMode int

const (
	// ResizeSquare resizes to N×N (aspect not kept), the default, with N
	// the model's img_size.
	ResizeSquare ResizeMode = iota
	// ResizeShortEdge resizes the short side to N and the long side to
	// int(N * long / short), keeping the aspect (torchvision's Resize(N)
	// rule).
	ResizeShortEdge
	// ResizeNone keeps the image's size.
	ResizeNone
)

// Target returns the size an image of w×h is resized to.
func Target(mode ResizeMode, n, w, h int) (int, int) {
	switch mode {
	case ResizeSquare:
		return n, n
	case ResizeShortEdge:
		if w <= h {
			return n, int(float64(n) * float64(h) / float64(w))
		}
		return int(float64(n) * float64(w) / float64(h)), n
	}
	return w, h
}
