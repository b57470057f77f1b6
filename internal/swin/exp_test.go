package swin

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpSubSum checks the softmax exponentials (assembly where the CPU
// has AVX2, and the Go expf) against math.Exp in float64: a few ulps, on
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
