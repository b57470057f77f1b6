package preprocess

import (
	"fmt"
	"math"
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
// and twice the support).
func (m *Image) resizePIL(w, h int, interp Interp) (*Image, error) {
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
		hks, hb, hc := precomputeCoeffs(m.W, w, filter)
		resampleHorizontal(tmp, m, first, hks, hb, hc)
		for i := 0; i < h; i++ {
			bounds[2*i] -= first
		}
		src = tmp
	}
	if h == m.H {
		return src, nil
	}
	out := &Image{W: w, H: h, Pix: make([]uint8, w*h*3)}
	resampleVertical(out, src, ks, bounds, coeffs)
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

// clip8 turns a fixed-point accumulator into a byte.
func clip8(v int32) uint8 {
	if v >= 1<<precisionBits<<8 {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> precisionBits)
}

// resampleHorizontal fills out (out.H rows) from rows offset.. of in.
func resampleHorizontal(out, in *Image, offset, ksize int, bounds []int, coeffs []int32) {
	for yy := 0; yy < out.H; yy++ {
		row := in.Pix[(yy+offset)*in.W*3 : (yy+offset+1)*in.W*3]
		orow := out.Pix[yy*out.W*3 : (yy+1)*out.W*3]
		for xx := 0; xx < out.W; xx++ {
			xmin, xmax := bounds[2*xx], bounds[2*xx+1]
			k := coeffs[xx*ksize : xx*ksize+xmax]
			p := row[xmin*3 : (xmin+xmax)*3]
			s0, s1, s2 := int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1))
			for j, c := range k {
				q := p[3*j : 3*j+3 : 3*j+3]
				s0 += int32(q[0]) * c
				s1 += int32(q[1]) * c
				s2 += int32(q[2]) * c
			}
			o := orow[xx*3 : xx*3+3]
			o[0], o[1], o[2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
}

// resampleVertical fills out from in, one output row at a time: the
// weighted input rows are accumulated in int32 in the order of their
// weights (the sums are exact, so the order is PIL's result).
func resampleVertical(out, in *Image, ksize int, bounds []int, coeffs []int32) {
	stride := in.W * 3
	acc := make([]int32, stride)
	for yy := 0; yy < out.H; yy++ {
		ymin, ymax := bounds[2*yy], bounds[2*yy+1]
		k := coeffs[yy*ksize : yy*ksize+ymax]
		for i := range acc {
			acc[i] = 1 << (precisionBits - 1)
		}
		y := 0
		for ; y+1 < len(k); y += 2 {
			// Two rows per sweep over the accumulator.
			r0 := in.Pix[(y+ymin)*stride : (y+ymin+1)*stride]
			r1 := in.Pix[(y+ymin+1)*stride : (y+ymin+2)*stride]
			c0, c1 := k[y], k[y+1]
			acc := acc[:len(r0)]
			r1 = r1[:len(r0)]
			for i, v := range r0 {
				acc[i] += int32(v)*c0 + int32(r1[i])*c1
			}
		}
		if y < len(k) {
			row := in.Pix[(y+ymin)*stride : (y+ymin+1)*stride]
			c := k[y]
			acc := acc[:len(row)]
			for i, v := range row {
				acc[i] += int32(v) * c
			}
		}
		orow := out.Pix[yy*stride : (yy+1)*stride]
		for i, s := range acc[:len(orow)] {
			orow[i] = clip8(s)
		}
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
