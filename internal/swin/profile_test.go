package swin

import (
	"sync/atomic"
	"testing"
)

// flopMatMul is GoMatMul counting the FLOPs (2 per multiply-add) of the
// products it computes.
type flopMatMul struct{ flops *atomic.Int64 }

func (f flopMatMul) MatMulT(m, n, k int, a []float32, lda int, b []float32, ldb int, bias []float32, c []float32, ldc int) {
	f.flops.Add(2 * int64(m) * int64(n) * int64(k))
	GoMatMul{}.MatMulT(m, n, k, a, lda, b, ldb, bias, c, ldc)
}

// TestProfile checks that Options.Profile leaves the features bit for bit
// as they are without it (on the default kernel and on a plain one), that
// it times every category the pass has, and that the FLOPs it counts add
// up to those of the products the kernel was actually asked for (a shifted
// and padded map, a batch, both semantics' paths through patch merging).
func TestProfile(t *testing.T) {
	m, err := FromTensors(randomTensors(smallArch(), []int{1, 2, 3}, 1))
	if err != nil {
		t.Fatal(err)
	}
	x := randomInput(3, 61, 45, 2)
	for _, mm := range []MatMul{nil, GoMatMul{}} {
		m.MatMul = mm
		a, err := m.Forward(x, Options{Semantics: GLIP})
		if err != nil {
			t.Fatal(err)
		}
		var p Profile
		b, err := m.Forward(x, Options{Semantics: GLIP, Profile: &p})
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, a, b, "a Profile")
		for o := Op(0); o < NumOps; o++ {
			if p.Time[o] <= 0 {
				t.Errorf("%v: no time counted", o)
			}
		}
		if p.Passes == 0 {
			t.Error("no pass counted")
		}
	}
	var flops atomic.Int64
	m.MatMul = flopMatMul{&flops}
	var p Profile
	if _, err := m.Forward(x, Options{Semantics: GLIP, Profile: &p}); err != nil {
		t.Fatal(err)
	}
	var counted int64
	for o := Op(0); o < NumOps; o++ {
		counted += p.FLOPs[o]
	}
	if counted != flops.Load() || counted == 0 {
		t.Fatalf("profile counts %d FLOPs, the kernel computed %d", counted, flops.Load())
	}
	p.Reset()
	if p.Passes != 0 || p.FLOPs[OpQKV] != 0 || p.Time[OpFC1] != 0 {
		t.Fatal("Reset left counts")
	}
}
