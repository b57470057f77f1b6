package stats

import (
	"encoding/json"
	"math"
)

// Number is a float64 as glipctl writes it in JSON: a number when finite,
// null when NaN or infinite (see the package documentation).
type Number float64

// MarshalJSON implements json.Marshaler.
func (n Number) MarshalJSON() ([]byte, error) {
	v := float64(n)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// Finite reports whether n is neither NaN nor infinite.
func (n Number) Finite() bool {
	v := float64(n)
	return !math.IsNaN(v) && !math.IsInf(v, 0)
}

// JSON is Stats in its JSON form: the statistics of no finite value are
// null; the counts say why.
type JSON struct {
	Min    Number `json:"min"`
	Max    Number `json:"max"`
	Mean   Number `json:"mean"`
	Std    Number `json:"std"`
	AbsMax Number `json:"absmax"`
	Zeros  int64  `json:"zeros"`
	NaN    int64  `json:"nan"`
	Inf    int64  `json:"inf"`
}

// JSON returns s in its JSON form.
func (s Stats) JSON() *JSON {
	return &JSON{Min: Number(s.Min), Max: Number(s.Max), Mean: Number(s.Mean), Std: Number(s.Std), AbsMax: Number(s.AbsMax), Zeros: s.Zeros, NaN: s.NaN, Inf: s.Inf}
}

// UnmarshalJSON implements json.Unmarshaler: null reads as NaN.
func (n *Number) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Number(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*n = Number(v)
	return nil
}
