package compare

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
)

func TestCompareFloats(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	for _, c := range []struct {
		a, b       []float64
		atol, rtol float64
		bad        int64
	}{
		{[]float64{1, 2, 3}, []float64{1, 2, 3}, 0, 0, 0},
		{[]float64{1, 2.1}, []float64{1, 2}, 0.1, 0, 0},        // |d| = 0.1 <= 0.1 (within float rounding)
		{[]float64{1, 2.2}, []float64{1, 2}, 0.1, 0, 1},        // 0.2 > 0.1
		{[]float64{1, 2.2}, []float64{1, 2}, 0, 0.1, 0},        // 0.2 <= 0.1*2
		{[]float64{100, 0.001}, []float64{101, 0}, 0, 0.01, 1}, // ref 0: only atol counts
		{[]float64{inf, 1}, []float64{inf, 1}, 0, 0, 0},
		{[]float64{nan}, []float64{nan}, 1, 1, 1},
		{[]float64{inf}, []float64{1}, 1, 1, 1},
	} {
		s := Floats("x", nil, c.a, c.b, Tolerance{Atol: c.atol + 1e-12, Rtol: c.rtol})
		if s.Bad != c.bad {
			t.Errorf("%v vs %v (atol %g rtol %g): %d bad, want %d", c.a, c.b, c.atol, c.rtol, s.Bad, c.bad)
		}
	}
	s := Floats("x", nil, []float64{1, 0}, []float64{0, 1}, Tolerance{})
	if s.Cosine != 0 || s.MaxAbs != 1 {
		t.Errorf("%+v", s)
	}
}

// failingReader fails every read.
type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("disk on fire") }

// TestTensorsReadError: a tensor that cannot be read is an error, not a
// difference (diff exits 1 on it, not 3).
func TestTensorsReadError(t *testing.T) {
	good, err := ckpt.FromFloat32("w", []int64{2}, []float32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	bad := &ckpt.Tensor{Name: "w", DType: ckpt.F32, Shape: []int64{2}, Data: failingReader{}}
	for _, pair := range [][2]*ckpt.Tensor{{good, bad}, {bad, good}} {
		if _, err := Tensors(pair[0], pair[1], Default); err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Errorf("error %v", err)
		}
	}
	r, err := Tensors(good, good, Tolerance{})
	if err != nil || !r.OK || r.MaxAbs != 0 || r.Cosine != 1 {
		t.Errorf("%+v %v", r, err)
	}
	other, _ := ckpt.FromFloat32("w", []int64{1, 2}, []float32{1, 2})
	if r, err := Tensors(good, other, Default); err != nil || r.OK || r.Compared() || len(r.RefShape) != 2 {
		t.Errorf("shape mismatch: %+v %v", r, err)
	}
}

func TestWriteMarkdown(t *testing.T) {
	good := Floats("a|b", []int64{2}, []float64{1, 2}, []float64{1, 2}, Default)
	bad := Floats("c", []int64{2}, []float64{1, 3}, []float64{1, 2}, Default)
	var b strings.Builder
	if err := WriteMarkdown(&b, "x vs y", false, Default, []Result{good, bad, Missing("d", nil)}, []string{"only in A: e"}); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	iBad, iGood := strings.Index(md, "| `c` |"), strings.Index(md, "| `a\\|b` |")
	if !strings.Contains(md, "❌ out of tolerance") || iBad < 0 || iGood < 0 || iBad > iGood ||
		!strings.Contains(md, "FAIL: missing from the reference") || !strings.Contains(md, "- only in A: e") {
		t.Errorf("markdown:\n%s", md)
	}
}
