package swin

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// naiveMatMulT is the definition of the contract, in float64.
func naiveMatMulT(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			if bias != nil {
				s = float64(bias[j])
			}
			for p := 0; p < k; p++ {
				s += float64(a[i*lda+p]) * float64(b[j*ldb+p])
			}
			c[i*n+j] = s
		}
	}
	return c
}

func TestGoMatMulContract(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randv := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	shapes := [][3]int{{1, 1, 1}, {1, 7, 3}, {5, 3, 1}, {4, 2, 8}, {7, 9, 13}, {49, 49, 32}, {49, 32, 49}, {64, 96, 48}, {196, 384, 96}, {3, 3072, 768}, {130, 17, 300}, {2, 5, 0}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, strided := range []bool{false, true} {
			for _, withBias := range []bool{false, true} {
				for _, workers := range []int{1, 2, 3} {
					lda, ldb, ldc := k, k, n
					if strided {
						lda, ldb, ldc = k+3, 2*k+1, n+5
					}
					a, b := randv(max(m*lda, 1)), randv(max(n*ldb, 1))
					var bias []float32
					if withBias {
						bias = randv(n)
					}
					c := make([]float32, m*ldc)
					for i := range c {
						c[i] = 12345 // must be overwritten or left alone
					}
					GoMatMul{Workers: workers}.MatMulT(m, n, k, a, lda, b, ldb, bias, c, ldc)
					want := naiveMatMulT(m, n, k, a, lda, b, ldb, bias)
					for i := 0; i < m; i++ {
						for j := 0; j < ldc; j++ {
							got := c[i*ldc+j]
							if j >= n {
								if got != 12345 {
									t.Fatalf("%v: element (%d,%d) outside C was written", s, i, j)
								}
								continue
							}
							if d := math.Abs(float64(got) - want[i*n+j]); d > 1e-5*math.Sqrt(float64(k)+1)*(1+math.Abs(want[i*n+j])) {
								t.Fatalf("%v strided=%v bias=%v workers=%d: C[%d,%d] = %v, want %v", s, strided, withBias, workers, i, j, got, want[i*n+j])
							}
						}
					}
				}
			}
		}
	}
}

// The result of a product does not depend on the number of goroutines.
func TestGoMatMulDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	m, n, k := 49, 3072, 768
	a, b := make([]float32, m*k), make([]float32, n*k)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64())
	}
	ref := make([]float32, m*n)
	GoMatMul{Workers: 1}.MatMulT(m, n, k, a, k, b, k, nil, ref, n)
	for _, w := range []int{2, 3, 8} {
		c := make([]float32, m*n)
		GoMatMul{Workers: w}.MatMulT(m, n, k, a, k, b, k, nil, c, n)
		for i := range c {
			if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
				t.Fatalf("workers %d: element %d differs", w, i)
			}
		}
	}
}

// countingMatMul checks that the model routes its products through
// Model.MatMul.
type countingMatMul struct {
	calls *int64
}

func (c countingMatMul) MatMulT(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, cc []float32, ldc int) {
	atomicAdd(c.calls)
	GoMatMul{}.MatMulT(m, n, k, a, lda, b, ldb, bias, cc, ldc)
}

func smallArch() Arch {
	return Arch{EmbedDim: 8, Depths: []int{2, 2, 2, 2}, Heads: []int{1, 2, 2, 4}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4}
}

// TestForwardDeterministicAndPluggable checks, for the default kernel
// (internal/gemm: fused epilogues, batched attention) and for GoMatMul
// (plain MatMulT and separate passes), that the result does not depend on
// GOMAXPROCS (so neither on the goroutines of the products nor on the
// images of a batch running in parallel), that an image of a batch equals
// the same image run alone, and that a kernel wrapped in a type of its own
// is used and gives the same bits.
func TestForwardDeterministicAndPluggable(t *testing.T) {
	for _, kc := range []struct {
		name string
		mm   MatMul
	}{{"gemm", nil}, {"go", GoMatMul{}}} {
		t.Run(kc.name, func(t *testing.T) {
			m, err := FromTensors(randomTensors(smallArch(), []int{1, 2, 3}, 1))
			if err != nil {
				t.Fatal(err)
			}
			m.MatMul = kc.mm
			// 5 images: with 2 or more cores, stacks of 2 images run in
			// parallel and the last runs alone.
			x := randomInput(5, 61, 45, 2)
			a, err := m.Forward(x, Options{Semantics: GLIP})
			if err != nil {
				t.Fatal(err)
			}
			for _, procs := range []int{1, 2, 3, 4} {
				prev := runtime.GOMAXPROCS(procs)
				b, err := m.Forward(x, Options{Semantics: GLIP})
				runtime.GOMAXPROCS(prev)
				if err != nil {
					t.Fatal(err)
				}
				sameBits(t, a, b, fmt.Sprintf("GOMAXPROCS=%d", procs))
			}
			// Image 1 of the batch equals image 1 run alone.
			one := Input{N: 1, C: 3, H: 61, W: 45, Data: x.Data[3*61*45 : 2*3*61*45]}
			d, err := m.Forward(one, Options{Semantics: GLIP})
			if err != nil {
				t.Fatal(err)
			}
			for i := range d {
				per := len(a[i].Data) / 5
				for j := range d[i].Data {
					if d[i].Data[j] != a[i].Data[per+j] {
						t.Fatalf("stage%d: batch element 1 differs from a single run", d[i].Stage)
					}
				}
			}
		})
	}
	// A wrapped kernel (no optional capabilities) is used, and matches
	// GoMatMul on the same separate-pass path bit for bit.
	m, err := FromTensors(randomTensors(smallArch(), []int{1, 2, 3}, 1))
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(2, 61, 45, 2)
	m.MatMul = GoMatMul{}
	a, err := m.Forward(x, Options{Semantics: GLIP})
	if err != nil {
		t.Fatal(err)
	}
	var calls int64
	m.MatMul = countingMatMul{&calls}
	c, err := m.Forward(x, Options{Semantics: GLIP})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 {
		t.Fatal("Model.MatMul was not used")
	}
	sameBits(t, a, c, "a wrapped GoMatMul")
}

func sameBits(t *testing.T, a, b []Feature, what string) {
	t.Helper()
	for i := range a {
		for j := range a[i].Data {
			if math.Float32bits(a[i].Data[j]) != math.Float32bits(b[i].Data[j]) {
				t.Fatalf("stage%d: result differs with %s", a[i].Stage, what)
			}
		}
	}
}

func TestCheckSize(t *testing.T) {
	a := Arch{EmbedDim: 96, Depths: []int{2, 2, 6, 2}, Heads: []int{3, 6, 12, 24}, Window: 7, PatchSize: 4}
	for _, c := range []struct {
		h, w  int
		stage string // "" = ok
	}{
		{224, 224, ""}, {223, 221, ""}, {192, 1000, "stage 3:"}, {160, 96, "stage 2:"}, {100, 130, "stage 3:"}, {37, 53, "stage 1:"}, {20, 20, "stage 0:"},
	} {
		err := a.CheckSize(c.h, c.w, MMPretrain)
		if c.stage == "" {
			if err != nil {
				t.Errorf("%dx%d: %v", c.h, c.w, err)
			}
		} else if err == nil || !strings.HasPrefix(err.Error(), c.stage) || !strings.Contains(err.Error(), "glip") {
			t.Errorf("%dx%d: %v, want %q suggesting glip", c.h, c.w, err, c.stage)
		}
		if err := a.CheckSize(c.h, c.w, GLIP); err != nil {
			t.Errorf("%dx%d glip: %v", c.h, c.w, err)
		}
	}
	if got := a.StageSizes(37, 53); got[0] != [2]int{10, 14} || got[3] != [2]int{2, 2} {
		t.Errorf("StageSizes(37, 53) = %v", got)
	}
}

func TestOutIndices(t *testing.T) {
	a := smallArch()
	m, err := FromTensors(randomTensors(a, []int{1, 2, 3}, 1))
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(1, 64, 64, 3)
	f, err := m.Forward(x, Options{Semantics: GLIP, OutIndices: []int{3, 0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 3 || f[0].Stage != 3 || f[1].Stage != 0 || f[1].C != 8 || f[1].H != 16 {
		t.Fatalf("features %+v", f)
	}
	// No norm0: identity under glip, LayerNorm(1, 0) under mmpretrain.
	g, err := m.Forward(randomInput(1, 224, 224, 3), Options{Semantics: MMPretrain, OutIndices: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	tok := g[0].Data
	var mean float64
	for c := 0; c < g[0].C; c++ {
		mean += float64(tok[c*g[0].H*g[0].W])
	}
	if math.Abs(mean/float64(g[0].C)) > 1e-5 {
		t.Errorf("mmpretrain norm0 output is not normalised: token mean %v", mean/float64(g[0].C))
	}
	for _, bad := range [][]int{{4}, {-1}, {1, 1}, {}} {
		if _, err := m.Forward(x, Options{Semantics: GLIP, OutIndices: bad}); err == nil {
			t.Errorf("out indices %v accepted", bad)
		}
	}
	// A model without norm2 cannot output stage 2.
	m2, err := FromTensors(randomTensors(a, []int{1, 3}, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Forward(x, Options{Semantics: GLIP}); err == nil || !strings.Contains(err.Error(), "backbone.norm2") {
		t.Errorf("missing norm2: %v", err)
	}
}

func TestFromTensorsErrors(t *testing.T) {
	a := smallArch()
	base := func() []*ckpt.Tensor { return randomTensors(a, []int{1, 2, 3}, 1) }
	replace := func(ts []*ckpt.Tensor, name string, nt *ckpt.Tensor) []*ckpt.Tensor {
		var out []*ckpt.Tensor
		for _, x := range ts {
			if x.Name == name {
				if nt != nil {
					out = append(out, nt)
				}
				continue
			}
			out = append(out, x)
		}
		return out
	}
	name := "backbone.stages.1.blocks.1.ffn.layers.1.weight"
	wrong, _ := ckpt.FromFloat32(name, []int64{16, 63}, make([]float32, 16*63))
	nan := make([]float32, 16*64)
	nan[5] = float32(math.NaN())
	nanT, _ := ckpt.FromFloat32(name, []int64{16, 64}, nan)
	idx := make([]float32, 49*49)
	badIdx, _ := ckpt.FromFloat32("backbone.stages.0.blocks.0.attn.w_msa.relative_position_index", []int64{49, 49}, idx)
	for _, c := range []struct {
		ts   []*ckpt.Tensor
		want string
	}{
		{replace(base(), name, nil), "missing tensor " + name},
		{replace(base(), name, wrong), "has shape [16, 63], want [16, 64]"},
		{replace(base(), name, nanT), "NaN"},
		{replace(base(), "backbone.stages.0.blocks.0.attn.w_msa.relative_position_index", badIdx), "relative position index"},
		{replace(base(), "backbone.patch_embed.projection.weight", nil), "not a Swin backbone"},
	} {
		if _, err := FromTensors(c.ts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
	// Names without the "backbone." prefix work too.
	var bare []*ckpt.Tensor
	for _, x := range base() {
		cp := *x
		cp.Name = strings.TrimPrefix(x.Name, "backbone.")
		bare = append(bare, &cp)
	}
	if _, err := FromTensors(bare); err != nil {
		t.Errorf("bare names: %v", err)
	}
}

func TestParseSemantics(t *testing.T) {
	for s, want := range map[string]Semantics{"mmpretrain": MMPretrain, "GLIP": GLIP} {
		if got, err := ParseSemantics(s); err != nil || got != want {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	if _, err := ParseSemantics("timm"); err == nil {
		t.Error("timm accepted")
	}
}

func atomicAdd(p *int64) { atomic.AddInt64(p, 1) }

// TestForwardConcurrent runs Forward from several goroutines at once on
// one model (each pass takes its own workspace from the model's pool):
// every call gives the bits of a call alone.
func TestForwardConcurrent(t *testing.T) {
	m, err := FromTensors(randomTensors(smallArch(), []int{1, 2, 3}, 1))
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(2, 61, 45, 2)
	want, err := m.Forward(x, Options{Semantics: GLIP})
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]Feature, 4)
	errs := make([]error, 4)
	done := make(chan int)
	for g := range got {
		go func() {
			got[g], errs[g] = m.Forward(x, Options{Semantics: GLIP, Workers: g % 2})
			done <- g
		}()
	}
	for range got {
		<-done
	}
	for g := range got {
		if errs[g] != nil {
			t.Fatal(errs[g])
		}
		sameBits(t, want, got[g], fmt.Sprintf("concurrent call %d", g))
	}
}
