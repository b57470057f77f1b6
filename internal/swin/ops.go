package swin

import (
	"math"
	"slices"

	"github.com/glipctl/glipctl/internal/parallel"
)

// layerNormRows writes LayerNorm(x) over rows of c values (eps 1e-5) to
// dst (which may be x) on up to par goroutines and returns dst; a zero
// layerNorm (nil weight and bias) means weight 1, bias 0.
func layerNormRows(par int, dst, x []float32, c int, ln layerNorm) []float32 {
	dst = dst[:len(x)]
	rows := len(x) / c
	parallel.For(par, rows, c*4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			layerNormRow(dst[r*c:(r+1)*c], x[r*c:(r+1)*c], ln)
		}
	})
	return dst
}

// layerNormRow normalises one row (dst may be src). The sum and the sum
// of squares are accumulated in float64 in one pass (layerNormSums), so
// the variance E[x²]-mean² keeps float32 accuracy unless the mean exceeds
// the deviation by about 10⁴; the output is computed in float32, each
// operation rounded on its own (layerNormApply). The explicit conversions
// keep the compiler from fusing a product and a sum into an FMA (as it
// would on arm64), so every architecture computes the same values.
func layerNormRow(dst, src []float32, ln layerNorm) {
	n := len(src)
	s, q := layerNormSums(src)
	mean := s / float64(n)
	v := max(q/float64(n)-float64(mean*mean), 0)
	inv := float32(1 / math.Sqrt(v+lnEps))
	layerNormApply(dst[:n], src, ln.w, ln.b, float32(mean), inv)
}

// layerNormSumsGo returns the sum and the sum of squares of x in float64,
// in the order layerNormSums specifies.
func layerNormSumsGo(x []float32) (s, q float64) {
	var ls, lq [8]float64
	n8 := len(x) &^ 7
	for i := 0; i < n8; i += 8 {
		c := x[i : i+8 : i+8]
		for k, v := range c {
			a := float64(v)
			ls[k] += a
			lq[k] += a * a
		}
	}
	s = ((ls[0] + ls[4]) + (ls[2] + ls[6])) + ((ls[1] + ls[5]) + (ls[3] + ls[7]))
	q = ((lq[0] + lq[4]) + (lq[2] + lq[6])) + ((lq[1] + lq[5]) + (lq[3] + lq[7]))
	return addSums(x[n8:], s, q)
}

// addSums adds the values of x and their squares to s and q, one by one:
// the last len%8 values of layerNormSums.
func addSums(x []float32, s, q float64) (float64, float64) {
	for _, v := range x {
		a := float64(v)
		s += a
		q += a * a
	}
	return s, q
}

// layerNormApplyGo sets dst[i] = (src[i]-m)·inv·w[i] + b[i] (without w,
// (src[i]-m)·inv), every operation rounded on its own.
func layerNormApplyGo(dst, src, w, b []float32, m, inv float32) {
	dst = dst[:len(src)]
	if w == nil {
		for i, x := range src {
			dst[i] = (x - m) * inv
		}
		return
	}
	w, b = w[:len(src)], b[:len(src)]
	for i, x := range src {
		dst[i] = float32(float32((x-m)*inv)*w[i]) + b[i]
	}
}

// softmaxRowGo replaces the attention scores row by softmax(row*scale +
// bias + mask), where mask (nil: none) is the row's shift mask from
// windowMasks, through scaleBiasMax and expSubSum. Probabilities below
// minNormal become 0. softmaxRow is this, or on amd64 with AVX2 one
// assembly routine that gives the same bits.
func softmaxRowGo(row []float32, scale float32, bias, mask []float32) {
	mx := scaleBiasMax(row, scale, bias, mask)
	// The quotients are taken 2^64 times too large, so that none is
	// subnormal (a subnormal result costs the multiplication a microcode
	// assist of about a hundred cycles on x86), compared with 2^-62, and
	// scaled back exactly.
	inv := 0x1p64 / expSubSum(row, mx)
	for j, v := range row {
		v *= inv
		if v < minNormal*0x1p64 {
			v = 0
		}
		row[j] = v * 0x1p-64
	}
}

// shiftMasks are the additive shift masks of the windows of an image
// (newShiftMasks).
type shiftMasks struct {
	tab   []float32 // window w, region r: tab[(w*9+r)*ntok:][:ntok]
	mixed []bool    // whether window w has tokens of more than one region
	lab   []int8
	ntok  int
}

// newShiftMasks builds the masks of nwin windows of ntok tokens with the
// region labels lab (maskLabels), in the buffers tab and mixed.
func newShiftMasks(tab *[]float32, mixed *[]bool, lab []int8, nwin, ntok int) shiftMasks {
	sm := shiftMasks{tab: grow(tab, nwin*9*ntok), mixed: grow(mixed, nwin), lab: lab, ntok: ntok}
	for w := range nwin {
		l := lab[w*ntok : (w+1)*ntok]
		sm.mixed[w] = slices.ContainsFunc(l, func(v int8) bool { return v != l[0] })
		if !sm.mixed[w] {
			continue
		}
		for r := range int8(9) {
			m := sm.tab[(w*9+int(r))*ntok : (w*9+int(r)+1)*ntok]
			for j, v := range l {
				m[j] = 0
				if v != r {
					m[j] = maskValue
				}
			}
		}
	}
	return sm
}

// row returns the mask of token i of window w: maskValue at the tokens j
// of another region than i's (lab[j] != lab[i]), 0 elsewhere; nil when
// every token of the window has the same region (or for no masks at all,
// the zero shiftMasks).
func (sm *shiftMasks) row(w, i int) []float32 {
	if sm.mixed == nil || !sm.mixed[w] {
		return nil
	}
	r := int(sm.lab[w*sm.ntok+i])
	return sm.tab[(w*9+r)*sm.ntok : (w*9+r+1)*sm.ntok]
}

// minNormal is float32's smallest normal number, 2^-126. softmaxRow
// flushes probabilities below it to zero: they are far below the rounding
// of any sum they enter (the row's largest probability is at least
// 1/len(row)), and as subnormal operands they make the FMAs of the
// probabilities·V product take microcode assists (that product ran about
// 20 times slower with a third of its operands subnormal, on the Xeon of
// docs/benchmarks.md).
const minNormal = 0x1p-126

// scaleBiasMaxGo is scaleBiasMax in Go.
func scaleBiasMaxGo(row []float32, scale float32, bias, mask []float32) float32 {
	bias = bias[:len(row)]
	mx := float32(math.Inf(-1))
	if mask != nil {
		mask = mask[:len(row)]
		for j, v := range row {
			v = v*scale + bias[j] + mask[j]
			row[j] = v
			mx = max(mx, v)
		}
		return mx
	}
	for j, v := range row {
		v = v*scale + bias[j]
		row[j] = v
		mx = max(mx, v)
	}
	return mx
}

// expSubSumGo sets row[i] = e^(row[i]-mx) and returns their sum.
func expSubSumGo(row []float32, mx float32) float32 {
	var sum float32
	for j, v := range row {
		e := expf(v - mx)
		row[j] = e
		sum += e
	}
	return sum
}

// expf is e^x in float32 for x <= 0 (a softmax's exponents), accurate to
// about 2 ulp: x = n·ln2 + r with |r| <= ln2/2, e^r by Cephes' expf
// polynomial, times 2^n built in the exponent bits. Below -87 (where e^x
// is under float32's smallest normal) it returns e^-87, which a softmax
// sum of at least 1 does not see.
func expf(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	x = max(x, -87)
	fn := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - fn*c1 - fn*c2
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(int32(fn)+127)<<23)
}

// geluInPlace applies the exact (erf) GELU: x/2 * (1 + erf(x/√2)).
func geluInPlace(x []float32) {
	for i, v := range x {
		f := float64(v)
		x[i] = float32(0.5 * f * (1 + math.Erf(f*(1/math.Sqrt2))))
	}
}

// addTo adds src to dst elementwise.
func addTo(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}
