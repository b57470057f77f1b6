package stats

import "testing"

func TestStatsEdgeCases(t *testing.T) {
	s := Values(nil)
	if s.Count != 0 || s.JSON().Min.Finite() || s.JSON().Std.Finite() {
		t.Errorf("empty: %+v", s)
	}
	s = Values([]float64{2})
	if s.Mean != 2 || s.JSON().Std.Finite() {
		t.Errorf("one value: %+v", s)
	}
}
