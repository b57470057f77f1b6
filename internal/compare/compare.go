// Package compare is glipctl's tolerance comparison of tensors, used by
// `glipctl diff` and `glipctl forward --compare`.
//
// Two arrays of the same shape are compared elementwise in float64. An
// element is within tolerance when |a - ref| <= Atol + Rtol*|ref|, the rule
// of numpy.allclose with ref the second operand: equal values (equal
// infinities included) pass, NaN never does, an infinity against a finite
// value never does. A Result reports, besides the count of elements out of
// tolerance:
//   - MaxAbs, max |a - ref| (+Inf when an element is NaN on one side only or
//     infinite against a finite value);
//   - MaxRel, max |a - ref| / |ref| over the elements where ref != 0 and the
//     difference is finite;
//   - Cosine, the cosine similarity of a and ref (1 for two zero arrays, 0
//     when one is zero, NaN when not defined).
//
// Non-finite figures are null in JSON (stats.Number); OutOfTolerance says
// how many elements failed. A shape mismatch or a missing reference is a
// Result with a Problem and OK false; failing to read a tensor is an error,
// not a difference.
package compare

import (
	"fmt"
	"math"
	"slices"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/stats"
)

// The default tolerances of forward --compare and diff: loose enough for
// float32 implementations that sum in different orders, tight enough to
// tell the two forward semantics apart (they differ by several percent of
// the largest value).
const (
	DefaultAtol = 1e-4
	DefaultRtol = 1e-3
)

// Tolerance is the allclose rule's pair.
type Tolerance struct {
	Atol, Rtol float64
}

// Default is the default tolerance.
var Default = Tolerance{Atol: DefaultAtol, Rtol: DefaultRtol}

// Result is the comparison of one tensor with its reference.
type Result struct {
	Name     string  `json:"name"`
	Shape    []int64 `json:"shape"`
	RefShape []int64 `json:"ref_shape,omitempty"`
	// MaxAbs, MaxRel and Cosine are as the package documentation says;
	// NaN (null in JSON) when the tensors were not compared.
	MaxAbs stats.Number `json:"max_abs_diff"`
	MaxRel stats.Number `json:"max_rel_diff"`
	Cosine stats.Number `json:"cosine"`
	// Bad is the number of elements out of tolerance.
	Bad int64 `json:"out_of_tolerance"`
	// Problem says why the tensors were not compared (missing, shape).
	Problem string `json:"problem,omitempty"`
	OK      bool   `json:"ok"`
}

// Compared reports whether values were compared (no Problem kept them
// apart).
func (r Result) Compared() bool { return r.Problem == "" }

// Text renders the result on one line, the tensor shown as name.
func (r Result) Text(name string) string {
	if !r.Compared() {
		return fmt.Sprintf("%-8s %s  FAIL", name, r.Problem)
	}
	verdict := "ok"
	if !r.OK {
		verdict = fmt.Sprintf("FAIL (%d elements out of tolerance)", r.Bad)
	}
	return fmt.Sprintf("%-8s max abs diff %-10.4g max rel diff %-10.4g cosine %.8f  %s",
		name, float64(r.MaxAbs), float64(r.MaxRel), float64(r.Cosine), verdict)
}

// notCompared is a Result whose figures are undefined.
func notCompared(name string, shape []int64, problem string) Result {
	nan := stats.Number(math.NaN())
	return Result{Name: name, Shape: shape, MaxAbs: nan, MaxRel: nan, Cosine: nan, Problem: problem}
}

// Missing is the Result of a tensor its reference does not have.
func Missing(name string, shape []int64) Result {
	return notCompared(name, shape, "missing from the reference")
}

// ShapeMismatch is the Result of two tensors of different shapes.
func ShapeMismatch(name string, shape, ref []int64) Result {
	r := notCompared(name, shape, fmt.Sprintf("shape %s, reference %s", ckpt.ShapeString(shape), ckpt.ShapeString(ref)))
	r.RefShape = ref
	return r
}

// Values compares a (of the given shape) with the tensor ref. The error is
// reading ref.
func Values(name string, shape []int64, a []float64, ref *ckpt.Tensor, tol Tolerance) (Result, error) {
	if !slices.Equal(shape, ref.Shape) {
		return ShapeMismatch(name, shape, ref.Shape), nil
	}
	b, err := ref.Float64()
	if err != nil {
		return Result{}, err
	}
	return Floats(name, shape, a, b, tol), nil
}

// Tensors compares tensor a with tensor ref of the same name. The error is
// reading either.
func Tensors(a, ref *ckpt.Tensor, tol Tolerance) (Result, error) {
	if !slices.Equal(a.Shape, ref.Shape) {
		return ShapeMismatch(a.Name, a.Shape, ref.Shape), nil
	}
	va, err := a.Float64()
	if err != nil {
		return Result{}, err
	}
	return Values(a.Name, a.Shape, va, ref, tol)
}

// Floats compares a with ref elementwise (len(a) == len(ref)).
func Floats(name string, shape []int64, a, ref []float64, tol Tolerance) Result {
	r := Result{Name: name, Shape: shape}
	var maxAbs, maxRel float64
	var ab, aa, bb float64
	for i, x := range a {
		y := ref[i]
		ab += x * y
		aa += x * x
		bb += y * y
		if x == y {
			continue // equal, infinities included
		}
		d := math.Abs(x - y)
		if math.IsNaN(d) || math.IsInf(d, 0) {
			r.Bad++
			maxAbs = math.Inf(1)
			continue
		}
		maxAbs = math.Max(maxAbs, d)
		if y != 0 {
			maxRel = math.Max(maxRel, d/math.Abs(y))
		}
		if !(d <= tol.Atol+tol.Rtol*math.Abs(y)) {
			r.Bad++
		}
	}
	var cos float64
	switch {
	case aa == 0 && bb == 0:
		cos = 1
	case aa == 0 || bb == 0:
		cos = 0
	default:
		cos = ab / math.Sqrt(aa*bb)
	}
	if math.IsInf(maxAbs, 0) {
		cos = math.NaN() // a sum over non-finite values means nothing
	}
	r.MaxAbs, r.MaxRel, r.Cosine = stats.Number(maxAbs), stats.Number(maxRel), stats.Number(cos)
	r.OK = r.Bad == 0
	return r
}
