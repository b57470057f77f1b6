package forward

import (
	"github.com/glipctl/glipctl/internal/stats"
	"github.com/glipctl/glipctl/internal/swin"
)

// StageSummary is the statistics of one stage's features (package stats:
// over the finite values; NaN and Inf counted; null in JSON when undefined).
type StageSummary struct {
	Name  string       `json:"name"`
	Stage int          `json:"stage"`
	Shape []int64      `json:"shape"`
	Mean  stats.Number `json:"mean"`
	Std   stats.Number `json:"std"`
	Min   stats.Number `json:"min"`
	Max   stats.Number `json:"max"`
	NaN   int64        `json:"nan"`
	Inf   int64        `json:"inf"`
}

// Summarize computes the summary of feature f, named name.
func Summarize(name string, f swin.Feature) StageSummary {
	a := stats.NewAccumulator()
	a.AddFloat32(f.Data)
	s := a.Stats()
	return StageSummary{Name: name, Stage: f.Stage, Shape: f.Shape(),
		Mean: stats.Number(s.Mean), Std: stats.Number(s.Std), Min: stats.Number(s.Min), Max: stats.Number(s.Max),
		NaN: s.NaN, Inf: s.Inf}
}
