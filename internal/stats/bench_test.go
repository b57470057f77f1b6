package stats

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// BenchmarkTensorStats measures the statistics of a 64 MiB f32 tensor held
// in memory (reading from a file adds the page-cache copy).
func BenchmarkTensorStats(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, 16<<20)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	t, err := ckpt.FromFloat32("w", []int64{int64(len(v))}, v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(t.NBytes())
	for b.Loop() {
		if _, err := TensorStats(context.Background(), []*ckpt.Tensor{t}); err != nil {
			b.Fatal(err)
		}
	}
}
