package swin

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpSubSum checks the softmax exponentials (assembly where the CPU
// has AVX2, and on arm64; the Go expf) against math.Exp in float64: a few ulps, on
// lengths with and without a tail of len%8 values.
func TestExpSubSum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 8, 49, 144, 150} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 30)
		}
		x[0] = -150 // below the clamp
		mx := float32(3.5)
		for _, f := range []struct {
			name string
			fn   func([]float32, float32) float32
		}{{"dispatch", expSubSum}, {"go", expSubSumGo}} {
			y := append([]float32(nil), x...)
			sum := f.fn(y, mx)
			var want float64
			for i, v := range x {
				e := math.Exp(float64(v - mx))
				want += e
				floor := 1.01 * math.Exp(-87)
				if math.Abs(float64(y[i])-e) > 4e-7*e+floor {
					t.Fatalf("%s n=%d: e^%g = %g, want %g", f.name, n, v-mx, y[i], e)
				}
			}
			if math.Abs(float64(sum)-want) > 1e-6*want+float64(n)*1.01*math.Exp(-87) {
				t.Fatalf("%s n=%d: sum %g, want %g", f.name, n, sum, want)
			}
		}
	}
}

// TestScaleBiasMax checks the first pass of the softmax (assembly where
// the CPU has AVX2, and on arm64) against the Go version, with and without a mask.
func TestScaleBiasMax(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 8, 49, 144, 150} {
		x := make([]float32, n)
		bias := make([]float32, n)
		mask := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 5)
			bias[i] = float32(r.NormFloat64())
			if r.IntN(3) == 0 {
				mask[i] = maskValue
			}
		}
		for _, m := range [][]float32{nil, mask} {
			a, b := append([]float32(nil), x...), append([]float32(nil), x...)
			ma := scaleBiasMax(a, 0.17, bias, m)
			mb := scaleBiasMaxGo(b, 0.17, bias, m)
			var top float32 = -1e30
			for i := range a {
				if d := math.Abs(float64(a[i] - b[i])); d > 1e-5*(1+math.Abs(float64(b[i]))) {
					t.Fatalf("n=%d mask=%v: element %d: %g, want %g", n, m != nil, i, a[i], b[i])
				}
				top = max(top, a[i])
			}
			if ma != top || math.Abs(float64(ma-mb)) > 1e-5*(1+math.Abs(float64(mb))) {
				t.Fatalf("n=%d mask=%v: max %g (elements %g), Go %g", n, m != nil, ma, top, mb)
			}
		}
	}
}

// TestSoftmaxRow checks softmaxRow (one assembly routine with AVX2) bit
// for bit against its composition softmaxRowGo (scaleBiasMax, expSubSum,
// the normalisation), and both against the softmax in float64 with the
// flush rule, on every length from 1 to 160 (every tail of len%8) with and
// without a shift mask, and on rows spread widely enough that
// probabilities fall below 2^-126.
func TestSoftmaxRow(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 1; n <= 160; n++ {
		for _, spread := range []float64{1, 40} {
			for _, masked := range []bool{false, true} {
				x := make([]float32, n)
				bias := make([]float32, n)
				var mask []float32
				if masked {
					mask = make([]float32, n)
				}
				for i := range x {
					x[i] = float32(r.NormFloat64() * spread)
					bias[i] = float32(r.NormFloat64())
					if masked && r.IntN(3) == 0 {
						mask[i] = maskValue
					}
				}
				if masked {
					mask[r.IntN(n)] = 0 // at least one token of the region
				}
				const scale = 0.17677669
				got := append([]float32(nil), x...)
				softmaxRow(got, scale, bias, mask)
				want := append([]float32(nil), x...)
				softmaxRowGo(want, scale, bias, mask)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n=%d spread=%g masked=%v: p[%d] = %g (%08x), softmaxRowGo %g (%08x)", n, spread, masked, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
				// Against float64: the exponents carry the float32 rounding
				// of scores of up to |z| (an ulp is about 1.2e-7·|z|), the
				// exponentials about 2 ulp.
				z := make([]float64, n)
				mx, sum := math.Inf(-1), 0.0
				for i, v := range x {
					z[i] = float64(float32(v*scale) + bias[i])
					if masked {
						z[i] += float64(mask[i])
					}
					mx = max(mx, z[i])
				}
				tol := make([]float64, n)
				for i := range z {
					tol[i] = 1e-6 + 3e-7*(math.Abs(z[i])+math.Abs(mx))
					z[i] = math.Exp(z[i] - mx)
					sum += z[i]
				}
				for i := range z {
					p := z[i] / sum
					if math.Abs(float64(got[i])-p) > tol[i]*p+1e-7/float64(n)+0x1p-126 {
						t.Fatalf("n=%d spread=%g masked=%v: p[%d] = %g, float64 softmax %g", n, spread, masked, i, got[i], p)
					}
					if got[i] != 0 && got[i] < 0x1p-126 {
						t.Fatalf("n=%d: p[%d] = %g is subnormal", n, i, got[i])
					}
				}
			}
		}
	}
}

// TestLayerNorm checks layerNormSums and layerNormApply (AVX2 assembly
// where the CPU has it) bit for bit against their Go definitions on every
// length from 1 to 200, and layerNormRow against LayerNorm in float64.
func TestLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 1; n <= 200; n++ {
		x := make([]float32, n)
		w := make([]float32, n)
		b := make([]float32, n)
		offset := r.NormFloat64() * 10
		for i := range x {
			x[i] = float32(offset + r.NormFloat64()*3)
			w[i] = float32(1 + r.NormFloat64()*0.2)
			b[i] = float32(r.NormFloat64() * 0.1)
		}
		s, q := layerNormSums(x)
		gs, gq := layerNormSumsGo(x)
		if math.Float64bits(s) != math.Float64bits(gs) || math.Float64bits(q) != math.Float64bits(gq) {
			t.Fatalf("n=%d: layerNormSums = %v, %v; Go %v, %v", n, s, q, gs, gq)
		}
		for _, affine := range []bool{false, true} {
			ln := layerNorm{}
			if affine {
				ln = layerNorm{w: w, b: b}
			}
			got := make([]float32, n)
			want := make([]float32, n)
			layerNormApply(got, x, ln.w, ln.b, 0.37, 1.9)
			layerNormApplyGo(want, x, ln.w, ln.b, 0.37, 1.9)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d affine=%v: layerNormApply[%d] = %g, Go %g", n, affine, i, got[i], want[i])
				}
			}
			// In place, against float64.
			y := append([]float32(nil), x...)
			layerNormRow(y, y, ln)
			var mean, v float64
			for _, a := range x {
				mean += float64(a)
			}
			mean /= float64(n)
			for _, a := range x {
				v += (float64(a) - mean) * (float64(a) - mean)
			}
			v /= float64(n)
			for i, a := range x {
				want := (float64(a) - mean) / math.Sqrt(v+lnEps)
				if affine {
					want = want*float64(w[i]) + float64(b[i])
				}
				if math.Abs(float64(y[i])-want) > 2e-5*(1+math.Abs(want)) {
					t.Fatalf("n=%d affine=%v: LayerNorm[%d] = %g, float64 %g", n, affine, i, y[i], want)
				}
			}
		}
	}
}
