package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func accBits(a Accumulator) [10]uint64 {
	return [10]uint64{uint64(a.n), uint64(a.zeros), uint64(a.nan), uint64(a.inf), uint64(a.total),
		math.Float64bits(a.mean), math.Float64bits(a.m2), math.Float64bits(a.min), math.Float64bits(a.max), math.Float64bits(a.absmax)}
}

// TestBlockF32Paths checks that blockF32 (the assembly passes where the
// CPU has them) gives the same bits as blockF32Go on every length around
// the vector widths and on whole sub-blocks, and that blocks with a zero,
// NaN or Inf anywhere take the Go path.
func TestBlockF32Paths(t *testing.T) {
	if !haveStatsAsm {
		t.Skip("no assembly statistics on this CPU or build")
	}
	r := rand.New(rand.NewPCG(3, 4))
	lengths := []int{0, subBlock - 1, subBlock}
	for n := 1; n <= 41; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64()*3 + 1)
		}
		got, ok := blockF32Asm(v)
		if !ok {
			t.Fatalf("n=%d: assembly path refused a block without zero, NaN or Inf", n)
		}
		if want := blockF32Go(v); accBits(got) != accBits(want) {
			t.Fatalf("n=%d: assembly %+v, Go %+v", n, got, want)
		}
		if n == 0 {
			continue
		}
		for _, special := range []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
			for _, at := range []int{0, n / 2, n - 1} {
				w := append([]float32(nil), v...)
				w[at] = special
				if _, ok := blockF32Asm(w); ok {
					t.Fatalf("n=%d: %v at %d not seen by the assembly path", n, special, at)
				}
				if got, want := blockF32(w), blockF32Go(w); accBits(got) != accBits(want) {
					t.Fatalf("n=%d, %v at %d: %+v, Go %+v", n, special, at, got, want)
				}
			}
		}
	}
}

func BenchmarkBlockF32(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, subBlock)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	b.Run("go", func(b *testing.B) {
		b.SetBytes(int64(4 * len(v)))
		for b.Loop() {
			blockF32Go(v)
		}
	})
	b.Run("best", func(b *testing.B) {
		b.SetBytes(int64(4 * len(v)))
		for b.Loop() {
			blockF32(v)
		}
	})
}

// FuzzBlockF32 compares blockF32 with blockF32Go, bit for bit, on any
// float32 values (zeros, NaNs, Infs, subnormals included).
func FuzzBlockF32(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
		}
		if got, want := blockF32(v), blockF32Go(v); accBits(got) != accBits(want) {
			t.Fatalf("%v: %+v, Go %+v", v, got, want)
		}
	})
}
