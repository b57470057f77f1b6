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
