package gguf

import (
	"io"
	"math/rand"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
)

func BenchmarkQuantize(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	src := make([]float32, 1<<20)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	dst := make([]byte, 0, len(src)/32*34)
	b.SetBytes(4 << 20)
	for b.Loop() {
		dst, _ = Quantize(dst[:0], src)
	}
}

func benchWrite(b *testing.B, opts WriteOptions) {
	rng := rand.New(rand.NewSource(2))
	t := randTensor(b, rng, "w", ckpt.F32, 4096, 1024) // 16 MiB
	b.SetBytes(t.NBytes())
	for b.Loop() {
		if err := Write(io.Discard, nil, []*ckpt.Tensor{t}, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteF32(b *testing.B) { benchWrite(b, WriteOptions{}) }
func BenchmarkWriteQ8(b *testing.B)  { benchWrite(b, WriteOptions{Quantize: Q8Weights}) }
