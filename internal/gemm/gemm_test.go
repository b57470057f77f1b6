package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// shape is one test product: C (m×n) = A (m×k) · Bᵀ, with extra row
// padding on every operand (strides larger than the rows).
type shape struct {
	m, n, k int
	pad     int
}

var shapes = []shape{
	{1, 1, 1, 0},
	{1, 1, 1, 3},
	{7, 49, 32, 0},
	{49, 32, 49, 0},
	{49, 49, 32, 5},
	{6, 16, 8, 0},    // one full 6×16 tile
	{14, 32, 8, 0},   // one full 14×32 tile
	{12, 32, 256, 0}, // full tiles, one full k slice
	{28, 64, 256, 0},
	{97, 33, 65, 0},
	{97, 33, 65, 7},
	{5, 7, 0, 0}, // k = 0: C = bias
	{5, 7, 0, 2},
	{13, 20, 600, 1},  // three k slices
	{150, 40, 300, 0}, // two row blocks (mc = 144), two k slices
	{170, 40, 300, 2}, // two row blocks (mc = 168), two k slices
	{3, 1100, 20, 0},  // two column blocks (nc = 1024)
	{300, 300, 64, 3}, // big enough for several goroutines
	{700, 50, 300, 1}, // row blocks sharing packed B slices
	{1023, 1025, 257, 0},
}

// bigShape is a product that -short skips (with -race the Go reference
// and the Go kernel are slow).
func bigShape(s shape) bool { return s.m*s.n*s.k > 1<<21 }

// skipShape: big shapes are skipped with -short; the largest one is run
// only on real kernels with A read as the shape chooses (the other shapes
// cover every blocking and A mode).
func skipShape(kr Kernel, s shape) bool {
	huge := s.m*s.n*s.k > 1<<26
	return bigShape(s) && testing.Short() || huge && (kr.aMode != 0 || strings.HasSuffix(kr.impl.name, "-geometry"))
}

// kernels is every kernel of allImpls with A read in place (as chosen by
// shape, always, never).
func kernels(t *testing.T) []Kernel {
	var ks []Kernel
	for _, im := range allImpls(t) {
		for mode := 0; mode <= 2; mode++ {
			ks = append(ks, Kernel{impl: im, aMode: mode})
		}
	}
	return ks
}

func (kr Kernel) String() string { return fmt.Sprintf("%s/a%d", kr.impl.name, kr.aMode) }

// allImpls is every kernel this binary has and this CPU runs, each forced
// in turn whatever best is, then the geometry twins (see geometryTwins).
func allImpls(t *testing.T) []*impl {
	t.Helper()
	if len(impls) == 0 || impls[len(impls)-1] != goImpl {
		t.Fatalf("impls = %v: the portable kernel must be last", impls)
	}
	return append(slices.Clone(impls), geometryTwins()...)
}

// twin returns im with its micro-kernel replaced by microAny: the tile and
// block sizes, packing (with im's transposer) and driver of im, in
// portable code, so that they are tested on a CPU that cannot run im.
func twin(im *impl) *impl {
	tw := *im
	tw.name = im.name + "-geometry"
	tw.micro = microAny(im.mr, im.nr)
	tw.gelu = geluGo
	return &tw
}

// microAny is impl.micro for mr×nr tiles in plain Go, straight from its
// definition.
func microAny(mr, nr int) func(kc int, a *float32, rsa, csa int, b *float32, c *float32, ldc int, x *float32, ldx int, bias *float32, rows, cols int) {
	return func(kc int, a *float32, rsa, csa int, b *float32, c *float32, ldc int, x *float32, ldx int, bias *float32, rows, cols int) {
		var buf [1024]float32 // no allocation: TestNoAllocs runs twins too
		acc := buf[:mr*nr]
		if kc > 0 {
			as := unsafe.Slice(a, (mr-1)*rsa+(kc-1)*csa+1)
			bs := unsafe.Slice(b, kc*nr)
			for p := 0; p < kc; p++ {
				bp := bs[p*nr : p*nr+nr]
				for r := 0; r < mr; r++ {
					ar, row := as[r*rsa+p*csa], acc[r*nr:r*nr+nr]
					for j, bv := range bp {
						row[j] += ar * bv
					}
				}
			}
		}
		cs := unsafe.Slice(c, (rows-1)*ldc+cols)
		for r := 0; r < rows; r++ {
			for j := 0; j < cols; j++ {
				v := acc[r*nr+j]
				if bias != nil {
					v += unsafe.Slice(bias, cols)[j]
				}
				if x != nil {
					v += unsafe.Slice(x, (rows-1)*ldx+cols)[r*ldx+j]
				}
				cs[r*ldc+j] = v
			}
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// operands makes A (m×lda), B (n×ldb, or k×ldb when !trans), C filled
// with a sentinel, and a bias.
type operands struct {
	a, b, c, bias []float32
	lda, ldb, ldc int
	m, n, k       int
	trans         bool
	sentinel      float32
	absA, absB    []float64
	cOrig         []float32
}

func makeOperands(r *rand.Rand, s shape, trans bool) *operands {
	o := &operands{m: s.m, n: s.n, k: s.k, trans: trans, sentinel: -12345.5}
	o.lda = s.k + s.pad
	o.ldc = s.n + s.pad
	o.a = randSlice(r, s.m*o.lda)
	if trans {
		o.ldb = s.k + s.pad
		o.b = randSlice(r, s.n*o.ldb)
	} else {
		o.ldb = s.n + s.pad
		o.b = randSlice(r, s.k*o.ldb)
	}
	o.c = make([]float32, s.m*o.ldc)
	for i := range o.c {
		o.c[i] = o.sentinel
	}
	o.bias = randSlice(r, s.n)
	return o
}

func (o *operands) bAt(j, p int) float32 {
	if o.trans {
		return o.b[j*o.ldb+p]
	}
	return o.b[p*o.ldb+j]
}

// ref returns Σ_p a·b (+ bias) in float64 and Σ|a·b| (+ |bias|).
func (o *operands) ref(i, j int, bias []float32) (sum, abs float64) {
	for p := 0; p < o.k; p++ {
		t := float64(o.a[i*o.lda+p]) * float64(o.bAt(j, p))
		sum += t
		abs += math.Abs(t)
	}
	if bias != nil {
		sum += float64(bias[j])
		abs += math.Abs(float64(bias[j]))
	}
	return sum, abs
}

// checkC compares C with want(i, j) (value, tolerance) and checks that
// elements outside the m×n block kept the sentinel.
func (o *operands) checkC(t *testing.T, what string, want func(i, j int) (float64, float64)) {
	t.Helper()
	bad := 0
	for i := 0; i < o.m; i++ {
		for j := 0; j < o.ldc; j++ {
			got := o.c[i*o.ldc+j]
			if j >= o.n {
				if got != o.sentinel {
					t.Fatalf("%s: C[%d][%d] outside the block changed to %g", what, i, j, got)
				}
				continue
			}
			w, tol := want(i, j)
			if d := math.Abs(float64(got) - w); !(d <= tol) {
				if bad++; bad <= 5 {
					t.Errorf("%s: C[%d][%d] = %g, want %g (|diff| %g > tol %g)", what, i, j, got, w, d, tol)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d elements off", what, bad)
	}
}

func tolSum(abs float64) float64 { return 1e-5*abs + 1e-6 }

func TestMatMulT(t *testing.T) {
	for _, kr := range kernels(t) {
		for _, s := range shapes {
			if skipShape(kr, s) {
				continue
			}
			for _, withBias := range []bool{false, true} {
				name := fmt.Sprintf("%s/%dx%dx%d+%d/bias=%v", kr, s.m, s.n, s.k, s.pad, withBias)
				t.Run(name, func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(s.m*7919+s.n), uint64(s.k*31+s.pad)))
					o := makeOperands(r, s, true)
					var bias []float32
					if withBias {
						bias = o.bias
					}
					kr.MatMulT(s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, bias, o.c, o.ldc)
					o.checkC(t, name, func(i, j int) (float64, float64) {
						sum, abs := o.ref(i, j, bias)
						return sum, tolSum(abs)
					})
					// Bitwise the same on every call and for any number of
					// goroutines.
					first := append([]float32(nil), o.c...)
					for _, w := range []int{1, 2, 3} {
						clear(o.c)
						kw := kr
						kw.Workers = w
						kw.MatMulT(s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, bias, o.c, o.ldc)
						for i := 0; i < s.m; i++ {
							for j := 0; j < s.n; j++ {
								if o.c[i*o.ldc+j] != first[i*o.ldc+j] {
									t.Fatalf("Workers=%d: C[%d][%d] = %g, first call %g", w, i, j, o.c[i*o.ldc+j], first[i*o.ldc+j])
								}
							}
						}
					}
				})
			}
		}
	}
}

func TestMatMulNN(t *testing.T) {
	for _, kr := range kernels(t) {
		for _, s := range shapes {
			if skipShape(kr, s) {
				continue
			}
			name := fmt.Sprintf("%s/%dx%dx%d+%d", kr, s.m, s.n, s.k, s.pad)
			t.Run(name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(s.m), uint64(s.n*s.k+s.pad)))
				o := makeOperands(r, s, false)
				kr.MatMul(s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, o.bias, o.c, o.ldc)
				o.checkC(t, name, func(i, j int) (float64, float64) {
					sum, abs := o.ref(i, j, o.bias)
					return sum, tolSum(abs)
				})
			})
		}
	}
}

func TestEpilogue(t *testing.T) {
	epShapes := []shape{{1, 1, 1, 0}, {7, 49, 32, 2}, {49, 96, 96, 0}, {97, 33, 65, 3}, {13, 20, 600, 1}, {5, 7, 0, 0}, {200, 70, 384, 0}}
	for _, kr := range kernels(t) {
		for _, s := range epShapes {
			if bigShape(s) && testing.Short() {
				continue
			}
			for _, mode := range []string{"gelu", "gelu+res", "res", "res=C", "bias=nil+gelu"} {
				name := fmt.Sprintf("%s/%dx%dx%d+%d/%s", kr, s.m, s.n, s.k, s.pad, mode)
				t.Run(name, func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(s.m+s.n), uint64(s.k)))
					o := makeOperands(r, s, true)
					ep := Epilogue{Bias: o.bias}
					var res []float32
					ldr := s.n + 1
					switch mode {
					case "gelu":
						ep.GELU = true
					case "bias=nil+gelu":
						ep.Bias, ep.GELU = nil, true
					case "gelu+res", "res":
						ep.GELU = mode == "gelu+res"
						res = randSlice(r, s.m*ldr)
						ep.Residual, ep.LdResidual = res, ldr
					case "res=C":
						// C += A·Bᵀ + bias.
						for i := 0; i < s.m; i++ {
							for j := 0; j < s.n; j++ {
								o.c[i*o.ldc+j] = float32(r.NormFloat64())
							}
						}
						ldr = o.ldc
						res = append([]float32(nil), o.c...)
						ep.Residual, ep.LdResidual = o.c, o.ldc
					}
					kr.MatMulTEpilogue(s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, o.c, o.ldc, ep)
					o.checkC(t, name, func(i, j int) (float64, float64) {
						sum, abs := o.ref(i, j, ep.Bias)
						tol := tolSum(abs)
						if ep.GELU {
							// |GELU'| < 1.13.
							sum = geluF64(sum)
							tol = 1.13*tol + 1e-6*math.Abs(sum)
						}
						if res != nil {
							v := float64(res[i*ldr+j])
							sum += v
							tol += 1e-7 * (math.Abs(v) + math.Abs(sum))
						}
						return sum, tol
					})
				})
			}
		}
	}
}

func TestEpilogueMatchesSeparatePasses(t *testing.T) {
	// Fused GELU equals MatMulT followed by GELU, bit for bit (the same
	// vector code on the same sums).
	for _, im := range allImpls(t) {
		r := rand.New(rand.NewPCG(1, 2))
		m, n, k := 61, 77, 300
		a, b, bias := randSlice(r, m*k), randSlice(r, n*k), randSlice(r, n)
		c1, c2 := make([]float32, m*n), make([]float32, m*n)
		kr := Kernel{impl: im}
		kr.MatMulT(m, n, k, a, k, b, k, bias, c1, n)
		kr.GELU(c1)
		kr.MatMulTEpilogue(m, n, k, a, k, b, k, c2, n, Epilogue{Bias: bias, GELU: true})
		for i := range c1 {
			if c1[i] != c2[i] {
				t.Fatalf("%s: fused %g, separate %g at %d", im.name, c2[i], c1[i], i)
			}
		}
	}
}

func TestBatch(t *testing.T) {
	type bshape struct{ batch, m, n, k int }
	for _, kr := range kernels(t) {
		for _, bs := range []bshape{{1, 1, 1, 1}, {3, 7, 5, 3}, {64, 49, 49, 32}, {12, 49, 32, 49}, {2, 300, 200, 100}, {5, 4, 4, 0}} {
			if testing.Short() && bs.batch*bs.m*bs.n*bs.k > 1<<21 {
				continue
			}
			for _, trans := range []bool{true, false} {
				name := fmt.Sprintf("%s/%dx(%dx%dx%d)/trans=%v", kr, bs.batch, bs.m, bs.n, bs.k, trans)
				t.Run(name, func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(bs.batch), uint64(bs.m*bs.k)))
					// Heads side by side: products interleave in C's rows
					// (strideC = n, ldc = batch*n), A and B padded.
					lda, strideA := bs.k+2, bs.m*(bs.k+2)+3
					var ldb, strideB int
					if trans {
						ldb, strideB = bs.k+1, bs.n*(bs.k+1)
					} else {
						ldb, strideB = bs.n+1, bs.k*(bs.n+1)
					}
					ldc, strideC := bs.batch*bs.n, bs.n
					a := randSlice(r, bs.batch*strideA)
					b := randSlice(r, bs.batch*strideB)
					c := make([]float32, bs.m*ldc)
					if trans {
						kr.BatchMatMulT(bs.batch, bs.m, bs.n, bs.k, a, strideA, lda, b, strideB, ldb, c, strideC, ldc)
					} else {
						kr.BatchMatMul(bs.batch, bs.m, bs.n, bs.k, a, strideA, lda, b, strideB, ldb, c, strideC, ldc)
					}
					for q := 0; q < bs.batch; q++ {
						o := &operands{a: a[q*strideA:], b: b[q*strideB:], lda: lda, ldb: ldb, m: bs.m, n: bs.n, k: bs.k, trans: trans}
						for i := 0; i < bs.m; i++ {
							for j := 0; j < bs.n; j++ {
								got := c[q*strideC+i*ldc+j]
								sum, abs := o.ref(i, j, nil)
								if d := math.Abs(float64(got) - sum); !(d <= tolSum(abs)) {
									t.Fatalf("product %d: C[%d][%d] = %g, want %g", q, i, j, got, sum)
								}
							}
						}
					}
					// Each product as its own MatMulT gives the same bits.
					one := make([]float32, bs.m*bs.n)
					for q := 0; q < bs.batch; q++ {
						if trans {
							kr.MatMulT(bs.m, bs.n, bs.k, a[q*strideA:], lda, b[q*strideB:], ldb, nil, one, bs.n)
						} else {
							kr.MatMul(bs.m, bs.n, bs.k, a[q*strideA:], lda, b[q*strideB:], ldb, nil, one, bs.n)
						}
						for i := 0; i < bs.m; i++ {
							for j := 0; j < bs.n; j++ {
								if one[i*bs.n+j] != c[q*strideC+i*ldc+j] {
									t.Fatalf("product %d: batched and single differ at [%d][%d]", q, i, j)
								}
							}
						}
					}
				})
			}
		}
	}
}

func TestGELU(t *testing.T) {
	for _, im := range allImpls(t) {
		t.Run(im.name, func(t *testing.T) {
			// Every 61st float32 in ±[1e-20, 14] (every 997th with
			// -short): GELU's float64 value is the reference.
			step := uint32(61)
			if testing.Short() {
				step = 997
			}
			var xs []float32
			for bits := math.Float32bits(1e-20); bits <= math.Float32bits(14); bits += step {
				x := math.Float32frombits(bits)
				xs = append(xs, x, -x)
			}
			xs = append(xs, 0, float32(math.Copysign(0, -1)), 20, 100, 1e30, -13, -13.5, -20, -100, -1e30)
			got := append([]float32(nil), xs...)
			Kernel{impl: im}.GELU(got)
			var maxRel, maxRelX float64
			for i, x := range xs {
				want := geluF64(float64(x))
				g := float64(got[i])
				d := math.Abs(g - want)
				// Relative accuracy wherever GELU is a normal float32;
				// below that (x < -13.1) anything within 1e-37 of it.
				if math.Abs(want) < 1e-37 {
					if d > 1e-37 {
						t.Fatalf("GELU(%g) = %g, want %g", x, g, want)
					}
					continue
				}
				rel := d / math.Abs(want)
				if rel > maxRel {
					maxRel, maxRelX = rel, float64(x)
				}
			}
			t.Logf("%s: max relative error %.3g at x = %g over %d values", im.name, maxRel, maxRelX, len(xs))
			if maxRel > 6e-7 {
				t.Fatalf("max relative error %.3g at x = %g", maxRel, maxRelX)
			}
			special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
			Kernel{impl: im}.GELU(special)
			if !math.IsNaN(float64(special[0])) || !math.IsInf(float64(special[1]), 1) || special[2] != 0 {
				t.Fatalf("GELU(NaN, +Inf, -Inf) = %v, want NaN, +Inf, 0", special)
			}
		})
	}
}

func TestPanics(t *testing.T) {
	a := make([]float32, 100)
	kr := Kernel{}
	for name, f := range map[string]func(){
		"lda<k":      func() { kr.MatMulT(2, 2, 5, a, 4, a, 5, nil, a, 2) },
		"ldc<n":      func() { kr.MatMulT(2, 3, 5, a, 5, a, 5, nil, a, 2) },
		"a short":    func() { kr.MatMulT(30, 2, 5, a, 5, a, 5, nil, make([]float32, 60), 2) },
		"bias short": func() { kr.MatMulT(2, 3, 5, a, 5, a, 5, a[:2], make([]float32, 6), 3) },
		"res short": func() {
			kr.MatMulTEpilogue(2, 3, 5, a, 5, a, 5, make([]float32, 6), 3, Epilogue{Residual: a[:4], LdResidual: 3})
		},
		"res=C+gelu": func() {
			c := make([]float32, 6)
			kr.MatMulTEpilogue(2, 3, 5, a, 5, a, 5, c, 3, Epilogue{Residual: c, LdResidual: 3, GELU: true})
		},
		"batch short": func() { kr.BatchMatMulT(3, 2, 2, 2, a, 40, 2, a, 0, 2, make([]float32, 8), 4, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	// m or n zero: nothing to do, nothing read.
	kr.MatMulT(0, 5, 5, nil, 5, nil, 5, nil, nil, 5)
	kr.MatMulT(5, 0, 5, nil, 5, nil, 5, nil, nil, 0)
}

func TestConcurrent(t *testing.T) {
	// Many goroutines at once, as the attention calls it; -race checks
	// the sharing of packing buffers.
	r := rand.New(rand.NewPCG(3, 4))
	m, n, k := 49, 49, 32
	a, b := randSlice(r, m*k), randSlice(r, n*k)
	want := make([]float32, m*n)
	Kernel{}.MatMulT(m, n, k, a, k, b, k, nil, want, n)
	big := randSlice(r, 200*150)
	wantBig := make([]float32, 200*200)
	Kernel{}.MatMulT(200, 200, 150, big, 150, big, 150, nil, wantBig, 200)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([]float32, m*n)
			cb := make([]float32, 200*200)
			for it := 0; it < 20; it++ {
				Kernel{}.MatMulT(m, n, k, a, k, b, k, nil, c, n)
				for i := range c {
					if c[i] != want[i] {
						t.Errorf("concurrent call differs at %d", i)
						return
					}
				}
				if it%5 == 0 {
					Kernel{}.MatMulT(200, 200, 150, big, 150, big, 150, nil, cb, 200)
					for i := range cb {
						if cb[i] != wantBig[i] {
							t.Errorf("concurrent big call differs at %d", i)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations differ under -race")
	}
	r := rand.New(rand.NewPCG(5, 6))
	m, n, k := 49, 49, 32
	a, b := randSlice(r, m*k), randSlice(r, n*k)
	c := make([]float32, m*n)
	for _, im := range allImpls(t) {
		kr := Kernel{impl: im}
		kr.MatMulT(m, n, k, a, k, b, k, nil, c, n)
		if got := testing.AllocsPerRun(50, func() { kr.MatMulT(m, n, k, a, k, b, k, nil, c, n) }); got != 0 {
			t.Errorf("%s: small MatMulT allocates %v times per call", im.name, got)
		}
		kr.MatMulTEpilogue(m, n, k, a, k, b, k, c, n, Epilogue{GELU: true})
		if got := testing.AllocsPerRun(50, func() { kr.MatMulTEpilogue(m, n, k, a, k, b, k, c, n, Epilogue{GELU: true}) }); got != 0 {
			t.Errorf("%s: small MatMulTEpilogue allocates %v times per call", im.name, got)
		}
	}
}

func TestSelected(t *testing.T) {
	t.Logf("kernels: %d, best %q", len(impls), best.name)
	if (Kernel{}).Name() != best.name {
		t.Fatal("Kernel{} does not run the best kernel")
	}
}

// TestPacked checks MatMulTPacked against MatMulTEpilogue on the same
// operands: the same bits (the same sums in the same order), on every
// kernel, every shape, with workers 1 and 2, and with an epilogue.
func TestPacked(t *testing.T) {
	for _, kr := range kernels(t) {
		for _, s := range shapes {
			if skipShape(kr, s) {
				continue
			}
			name := fmt.Sprintf("%s/%dx%dx%d+%d", kr, s.m, s.n, s.k, s.pad)
			t.Run(name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(s.m+7), uint64(s.n*s.k+s.pad)))
				o := makeOperands(r, s, true)
				pb := kr.PackBT(s.n, s.k, o.b, o.ldb)
				if pb.N() != s.n || pb.K() != s.k {
					t.Fatalf("PackedB is %dx%d", pb.N(), pb.K())
				}
				u := pb.UnpackT()
				for j := 0; j < s.n; j++ {
					for p := 0; p < s.k; p++ {
						if u[j*s.k+p] != o.b[j*o.ldb+p] {
							t.Fatalf("UnpackT: B[%d][%d] = %g, want %g", j, p, u[j*s.k+p], o.b[j*o.ldb+p])
						}
					}
				}
				res := randSlice(r, s.m*s.n)
				for _, ep := range []Epilogue{{Bias: o.bias}, {Bias: o.bias, GELU: true, Residual: res, LdResidual: s.n}} {
					want := make([]float32, len(o.c))
					kr.MatMulTEpilogue(s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, want, o.ldc, ep)
					for _, w := range []int{1, 2} {
						kw := kr
						kw.Workers = w
						got := make([]float32, len(o.c))
						kw.MatMulTPacked(s.m, o.a, o.lda, pb, got, o.ldc, ep)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("workers %d gelu %v: element %d: %g, MatMulTEpilogue %g", w, ep.GELU, i, got[i], want[i])
							}
						}
					}
				}
			})
		}
	}
}

func TestPickImpl(t *testing.T) {
	a, b := &impl{name: "wide"}, &impl{name: "go"}
	ims := []*impl{a, b}
	for name, want := range map[string]*impl{"": a, "wide": a, "go": b, "avx9000": a} {
		if got := pickImpl(ims, name); got != want {
			t.Errorf("GLIPCTL_GEMM=%q picks %s, want %s", name, got.name, want.name)
		}
	}
}
