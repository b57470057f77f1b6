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
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels {
		return nil, fmt.Errorf("resize to %dx%d: size is empty or too large", w, h)
	}
	if w == m.W && h == m.H {
		return &Image{W: w, H: h, Pix: append([]uint8(nil), m.Pix...)}, nil
	}
	src := m
	ks, bounds, coeffs := precomputeCoeffs(m.H, h)
	if w != m.W {
		// Only the source rows the vertical pass reads are filtered.
		first := bounds[0]
		last := bounds[2*(h-1)] + bounds[2*(h-1)+1]
		tmp := &Image{W: w, H: last - first, Pix: make([]uint8, w*(last-first)*3)}
		hks, hb, hc := precomputeCoeffs(m.W, w)
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
// PIL's precompute_coeffs and normalize_coeffs_8bpc do for the bilinear
// filter over the whole input (box 0..inSize).
func precomputeCoeffs(inSize, outSize int) (ksize int, bounds []int, coeffs []int32) {
	const support0 = 1.0 // the bilinear filter's support
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
		center := (float64(xx) + 0.5) * scale
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
			wt := bilinear((float64(x+xmin) - center + 0.5) * ss)
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
			s0, s1, s2 := int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1))
			for x, c := range k {
				p := row[(x+xmin)*3 : (x+xmin)*3+3]
				s0 += int32(p[0]) * c
				s1 += int32(p[1]) * c
				s2 += int32(p[2]) * c
			}
			orow[xx*3], orow[xx*3+1], orow[xx*3+2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
}

func resampleVertical(out, in *Image, ksize int, bounds []int, coeffs []int32) {
	stride := in.W * 3
	for yy := 0; yy < out.H; yy++ {
		ymin, ymax := bounds[2*yy], bounds[2*yy+1]
		k := coeffs[yy*ksize : yy*ksize+ymax]
		orow := out.Pix[yy*stride : (yy+1)*stride]
		for i := range orow {
			s := int32(1 << (precisionBits - 1))
			for y, c := range k {
				s += int32(in.Pix[(y+ymin)*stride+i]) * c
			}
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
