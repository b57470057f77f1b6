package preprocess

import (
	"fmt"
	"math"
	"slices"
)

// OpenCV's resize of an 8-bit image, as cv2.resize(img, (w, h),
// interpolation=INTER_LINEAR or INTER_CUBIC) computes it in OpenCV 4.6 on
// x86-64 (no IPP, no custom HAL), to the bit:
//
//   - Same size: a copy.
//   - INTER_LINEAR with both scale factors exactly 2: the 2x2 box average
//     (a+b+c+d+2)>>2 (OpenCV switches to its fast INTER_AREA path).
//   - Otherwise separable: output pixel dx samples the source at
//     fx = float32((dx+0.5)*scale - 0.5) with scale = 1/(dst/src) in float64;
//     sx = floor(fx) and the fraction fx-sx give 2 (linear) or 4 (cubic, Keys
//     kernel with A = -0.75 evaluated in float32) weights, rounded half to
//     even to 11-bit fixed point (x2048). Source indices outside the image
//     are clamped (replicated border); for INTER_LINEAR the horizontal
//     position is also clamped to the first/last pixel.
//   - Horizontal pass: int32 sums of pixel*weight per channel.
//   - Vertical pass, linear: ((b0*(S0>>4))>>16 + (b1*(S1>>4))>>16 + 2)>>2.
//     Cubic: within each output row of W*3 values, the first multiple of 8
//     values are computed as OpenCV's 128-bit vector code does, in float32
//     (S*b with b = beta/2^22, summed as S0*b0 + (S1*b1 + (S2*b2 + S3*b3)),
//     rounded half to even, saturated), the rest as its scalar code does,
//     (sum + 2^21) >> 22 in int32, saturated. No antialiasing when shrinking.
const (
	cvCoefBits  = 11
	cvCoefScale = 1 << cvCoefBits
)

// resizeCV2 is cv2.resize of m to w×h with interp.
func (m *Image) resizeCV2(w, h int, interp Interp) (*Image, error) {
	if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels {
		return nil, fmt.Errorf("resize to %dx%d: size is empty or too large", w, h)
	}
	if w == m.W && h == m.H {
		return &Image{W: w, H: h, Pix: append([]uint8(nil), m.Pix...)}, nil
	}
	invX := float64(w) / float64(m.W)
	invY := float64(h) / float64(m.H)
	scaleX, scaleY := 1/invX, 1/invY
	if interp == Bilinear {
		ix, iy := cvRound64(scaleX), cvRound64(scaleY)
		if ix == 2 && iy == 2 && math.Abs(scaleX-float64(ix)) < epsilon64 && math.Abs(scaleY-float64(iy)) < epsilon64 {
			return m.halveCV2(w, h), nil
		}
	}
	ksize := 2
	if interp == Bicubic {
		ksize = 4
	}
	xofs, alpha := cvCoeffs(m.W, w, scaleX, ksize, true)
	yofs, beta := cvCoeffs(m.H, h, scaleY, ksize, false)

	// The source pixels each output pixel reads, clamped to the row
	// (OpenCV's replicated border).
	idx := make([]int, w*ksize)
	for dx, sx := range xofs {
		for k := 0; k < ksize; k++ {
			idx[dx*ksize+k] = clampInt(sx-ksize/2+1+k, 0, m.W-1)
		}
	}
	// The horizontal passes of the ksize source rows an output row reads
	// (clamped: OpenCV's replicated border), each computed once: the rows
	// only move down from one output row to the next.
	rw := w * 3
	slots := make([][]int32, ksize)
	held := make([]int, ksize) // the source row in each slot, or -1
	for i := range slots {
		slots[i] = make([]int32, rw)
		held[i] = -1
	}
	need := make([]int, ksize)
	rows := make([][]int32, ksize)
	out := &Image{W: w, H: h, Pix: make([]uint8, w*h*3)}
	for dy := 0; dy < h; dy++ {
		for k := range need {
			need[k] = clampInt(yofs[dy]-ksize/2+1+k, 0, m.H-1)
		}
		for k, sy := range need {
			slot := slices.Index(held, sy)
			if slot < 0 {
				// A slot holding no row this output row reads.
				slot = slices.IndexFunc(held, func(r int) bool { return !slices.Contains(need, r) })
				cvHorizontal(slots[slot], pixels(m.Pix[sy*m.W*3:(sy+1)*m.W*3]), idx, alpha, ksize)
				held[slot] = sy
			}
			rows[k] = slots[slot]
		}
		orow := out.Pix[dy*rw : (dy+1)*rw]
		b := beta[dy*ksize : (dy+1)*ksize]
		if ksize == 2 {
			cvVerticalLinear(orow, rows[0], rows[1], b[0], b[1])
		} else {
			cvVerticalCubic(orow, rows[0], rows[1], rows[2], rows[3], b)
		}
	}
	return out, nil
}

// epsilon64 is C's DBL_EPSILON.
const epsilon64 = 2.220446049250313e-16

// cvRound64 is saturate_cast<int>(double): round half to even.
func cvRound64(v float64) int {
	return int(math.RoundToEven(v))
}

// cvRoundShort is saturate_cast<short>(float): round half to even, then
// saturate.
func cvRoundShort(v float32) int16 {
	r := math.RoundToEven(float64(v))
	return int16(max(math.MinInt16, min(math.MaxInt16, r)))
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// cvCoeffs returns, for each of outSize output positions, the source index
// sx (floor of the sample position) and ksize fixed-point weights, as
// cv::hal::resize computes them (clampEnds: INTER_LINEAR's horizontal
// clamping of the position to the first and last pixel).
func cvCoeffs(inSize, outSize int, scale float64, ksize int, clampEnds bool) ([]int, []int16) {
	ofs := make([]int, outSize)
	coeffs := make([]int16, outSize*ksize)
	var cbuf [4]float32
	for d := 0; d < outSize; d++ {
		// (float)((d+0.5)*scale - 0.5), each operation rounded (no fused
		// multiply-add).
		p := float64((float64(d) + 0.5) * scale)
		f := float32(p - 0.5)
		s := int(math.Floor(float64(f)))
		f -= float32(s)
		if ksize == 2 && clampEnds {
			if s < 0 {
				f, s = 0, 0
			}
			if s >= inSize-1 {
				f, s = 0, inSize-1
			}
		}
		ofs[d] = s
		if ksize == 2 {
			cbuf[0] = 1 - f
			cbuf[1] = f
		} else {
			interpolateCubic(f, &cbuf)
		}
		for k := 0; k < ksize; k++ {
			coeffs[d*ksize+k] = cvRoundShort(cbuf[k] * cvCoefScale)
		}
	}
	return ofs, coeffs
}

// interpolateCubic is OpenCV's Keys kernel (A = -0.75) at fraction x, in
// float32 with every operation rounded as written.
func interpolateCubic(x float32, c *[4]float32) {
	const a = float32(-0.75)
	// Each product is converted explicitly so that no multiply-add fuses.
	x1 := x + 1
	t := float32(a*x1) - 5*a
	t = float32(t*x1) + 8*a
	c[0] = float32(t*x1) - 4*a
	t = float32((a+2)*x) - (a + 3)
	t = float32(t * x)
	c[1] = float32(t*x) + 1
	y := 1 - x
	t = float32((a+2)*y) - (a + 3)
	t = float32(t * y)
	c[2] = float32(t*y) + 1
	c[3] = 1 - c[0] - c[1] - c[2]
}

// cvHorizontal fills dst (outW*3 values) from the source row src: per
// output pixel and channel, the sum of ksize source pixels (at the clamped
// indices idx) times their weights.
func cvHorizontal(dst []int32, src [][3]uint8, idx []int, alpha []int16, ksize int) {
	n := len(dst) / 3
	if ksize == 2 {
		idx, alpha = idx[:2*n], alpha[:2*n]
		for dx := range n {
			a0, a1 := int32(alpha[2*dx]), int32(alpha[2*dx+1])
			p0, p1 := &src[idx[2*dx]], &src[idx[2*dx+1]]
			d := dst[3*dx : 3*dx+3 : 3*dx+3]
			d[0] = int32(p0[0])*a0 + int32(p1[0])*a1
			d[1] = int32(p0[1])*a0 + int32(p1[1])*a1
			d[2] = int32(p0[2])*a0 + int32(p1[2])*a1
		}
		return
	}
	idx, alpha = idx[:4*n], alpha[:4*n]
	for dx := range n {
		a := alpha[4*dx : 4*dx+4 : 4*dx+4]
		ix := idx[4*dx : 4*dx+4 : 4*dx+4]
		c0, c1, c2, c3 := int32(a[0]), int32(a[1]), int32(a[2]), int32(a[3])
		p0, p1, p2, p3 := &src[ix[0]], &src[ix[1]], &src[ix[2]], &src[ix[3]]
		d := dst[3*dx : 3*dx+3 : 3*dx+3]
		d[0] = int32(p0[0])*c0 + int32(p1[0])*c1 + int32(p2[0])*c2 + int32(p3[0])*c3
		d[1] = int32(p0[1])*c0 + int32(p1[1])*c1 + int32(p2[1])*c2 + int32(p3[1])*c3
		d[2] = int32(p0[2])*c0 + int32(p1[2])*c1 + int32(p2[2])*c2 + int32(p3[2])*c3
	}
}

// cvVerticalLinear is VResizeLinear<uchar> (its vector and scalar code
// agree).
func cvVerticalLinear(dst []uint8, s0, s1 []int32, b0, b1 int16) {
	c0, c1 := int32(b0), int32(b1)
	s0, s1 = s0[:len(dst)], s1[:len(dst)]
	for x := range dst {
		v := ((c0*(s0[x]>>4))>>16 + (c1*(s1[x]>>4))>>16 + 2) >> 2
		dst[x] = uint8(max(0, min(255, v)))
	}
}

// cvVerticalCubic is VResizeCubic<uchar>: float32 for the leading multiple
// of 8 values (VResizeCubicVec_32s8u), fixed point for the rest.
func cvVerticalCubic(dst []uint8, s0, s1, s2, s3 []int32, beta []int16) {
	const scale = float32(1.0 / (cvCoefScale * cvCoefScale))
	f0, f1, f2, f3 := float32(beta[0])*scale, float32(beta[1])*scale, float32(beta[2])*scale, float32(beta[3])*scale
	n := len(dst) / 8 * 8
	v, r0, r1, r2, r3 := dst[:n], s0[:n], s1[:n], s2[:n], s3[:n]
	for x := range v {
		t := float32(float32(r3[x]) * f3)
		t = float32(float32(float32(r2[x])*f2) + t)
		t = float32(float32(float32(r1[x])*f1) + t)
		t = float32(float32(float32(r0[x])*f0) + t)
		// t is within a few thousand of 0: its rounding converts exactly.
		v[x] = uint8(max(0, min(255, int32(math.RoundToEven(float64(t))))))
	}
	c0, c1, c2, c3 := int32(beta[0]), int32(beta[1]), int32(beta[2]), int32(beta[3])
	for x := n; x < len(dst); x++ {
		v := (s0[x]*c0 + s1[x]*c1 + s2[x]*c2 + s3[x]*c3 + 1<<(2*cvCoefBits-1)) >> (2 * cvCoefBits)
		dst[x] = uint8(max(0, min(255, v)))
	}
}

// halveCV2 is OpenCV's fast INTER_AREA for a scale of exactly 2 on both
// axes: each output value is (a+b+c+d+2)>>2 of its 2x2 source block.
func (m *Image) halveCV2(w, h int) *Image {
	out := &Image{W: w, H: h, Pix: make([]uint8, w*h*3)}
	sw := m.W * 3
	for dy := 0; dy < h; dy++ {
		r0 := m.Pix[2*dy*sw : (2*dy+1)*sw]
		r1 := m.Pix[(2*dy+1)*sw : (2*dy+2)*sw]
		orow := out.Pix[dy*w*3 : (dy+1)*w*3]
		for dx := 0; dx < w; dx++ {
			i := dx * 6
			for c := 0; c < 3; c++ {
				s := int(r0[i+c]) + int(r0[i+3+c]) + int(r1[i+c]) + int(r1[i+3+c])
				orow[dx*3+c] = uint8((s + 2) >> 2)
			}
		}
	}
	return out
}
