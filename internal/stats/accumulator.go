package stats

import (
	"context"
	"math"
	"runtime"
	"sync"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// Stats summarises a tensor's values. Min, Max, Mean, Std and AbsMax are
// taken over the finite values (NaN and ±Inf are counted, not averaged);
// they are NaN when there is no finite value (Std also when there is only
// one). Std is the unbiased standard deviation, as torch.Tensor.std().
type Stats struct {
	Count  int64 // elements
	Finite int64 // finite elements
	Min    float64
	Max    float64
	Mean   float64
	Std    float64
	AbsMax float64
	Zeros  int64
	NaN    int64
	Inf    int64
}

// Accumulator gathers statistics run by run: count, mean and sum of
// squared deviations of the finite values (merged as Chan et al.), plus
// extremes and counts. Use NewAccumulator; feed it with AddFloat32 or
// AddFloat64 and Merge, in a fixed order for deterministic results.
type Accumulator struct {
	n, zeros, nan, inf, total int64
	mean, m2                  float64
	min, max, absmax          float64
}

// NewAccumulator returns an empty Accumulator.
func NewAccumulator() Accumulator {
	return Accumulator{min: math.Inf(1), max: math.Inf(-1)}
}

// AddFloat64 accumulates a run of values with a two-pass mean and deviation.
func (a *Accumulator) AddFloat64(v []float64) {
	b := NewAccumulator()
	b.total = int64(len(v))
	var sum float64
	for _, x := range v {
		switch {
		case x != x:
			b.nan++
			continue
		case math.IsInf(x, 0):
			b.inf++
			continue
		case x == 0:
			b.zeros++
		}
		b.n++
		sum += x
		if x < b.min {
			b.min = x
		}
		if x > b.max {
			b.max = x
		}
	}
	if b.n > 0 {
		b.mean = sum / float64(b.n)
		var m2, comp float64
		for _, x := range v {
			if x != x || math.IsInf(x, 0) {
				continue
			}
			d := x - b.mean
			m2 += d * d
			comp += d
		}
		b.m2 = m2 - comp*comp/float64(b.n)
		b.absmax = math.Max(math.Abs(b.min), math.Abs(b.max))
	}
	a.Merge(b)
}

// Merge adds the values b has seen.
func (a *Accumulator) Merge(b Accumulator) {
	a.total += b.total
	a.zeros += b.zeros
	a.nan += b.nan
	a.inf += b.inf
	if b.n == 0 {
		return
	}
	if a.n == 0 {
		a.n, a.mean, a.m2, a.min, a.max, a.absmax = b.n, b.mean, b.m2, b.min, b.max, b.absmax
		return
	}
	n := a.n + b.n
	d := b.mean - a.mean
	a.mean += d * float64(b.n) / float64(n)
	a.m2 += b.m2 + d*d*float64(a.n)*float64(b.n)/float64(n)
	a.n = n
	a.min = math.Min(a.min, b.min)
	a.max = math.Max(a.max, b.max)
	a.absmax = math.Max(a.absmax, b.absmax)
}

// Stats returns the statistics of every value seen.
func (a Accumulator) Stats() Stats {
	s := Stats{Count: a.total, Finite: a.n, Zeros: a.zeros, NaN: a.nan, Inf: a.inf,
		Min: math.NaN(), Max: math.NaN(), Mean: math.NaN(), Std: math.NaN(), AbsMax: math.NaN()}
	if a.n > 0 {
		s.Min, s.Max, s.Mean, s.AbsMax = a.min, a.max, a.mean, a.absmax
	}
	if a.n > 1 {
		s.Std = math.Sqrt(math.Max(a.m2, 0) / float64(a.n-1))
	}
	return s
}

// ChunkBytes is the size of the runs a tensor is read and reduced in: large
// enough to read efficiently, small enough that memory stays flat however
// large the tensor.
const ChunkBytes = 4 << 20

// Values computes the statistics of float64 values held in memory.
func Values(v []float64) Stats {
	a := NewAccumulator()
	a.AddFloat64(v)
	return a.Stats()
}

// TensorStats computes the statistics of each tensor, in order, reading
// them in chunks of ChunkBytes on all cores. Memory use is a few chunks per
// core, whatever the tensors' sizes. The result is deterministic: chunks
// are merged in order.
func TensorStats(ctx context.Context, tensors []*ckpt.Tensor) ([]Stats, error) {
	type job struct{ t, c int }
	chunks := make([][]ckpt.Chunk, len(tensors))
	parts := make([][]Accumulator, len(tensors))
	var jobs []job
	for i, t := range tensors {
		if err := t.Check(); err != nil {
			return nil, err
		}
		chunks[i] = t.Chunks(ChunkBytes)
		parts[i] = make([]Accumulator, len(chunks[i]))
		for c := range chunks[i] {
			jobs = append(jobs, job{i, c})
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		next     int
		wg       sync.WaitGroup
	)
	take := func() (job, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(jobs) || firstErr != nil || ctx.Err() != nil {
			return job{}, false
		}
		j := jobs[next]
		next++
		return j, true
	}
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	workers := min(runtime.GOMAXPROCS(0), max(len(jobs), 1))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw []byte
			var vals []float64
			var f32 []float32
			for {
				j, ok := take()
				if !ok {
					return
				}
				t, c := tensors[j.t], chunks[j.t][j.c]
				raw = grow(raw, int(c.Len))
				if err := t.ReadChunk(c, raw); err != nil {
					fail(err)
					return
				}
				a := NewAccumulator()
				switch t.DType {
				case ckpt.F32, ckpt.F16, ckpt.BF16, ckpt.Q8_0:
					if v, ok := ckpt.Float32View(raw); ok && t.DType == ckpt.F32 {
						a.AddFloat32(v)
						break
					}
					f32 = growF32(f32, int(c.Count))
					if err := ckpt.DecodeFloat32(t.DType, raw, f32); err != nil {
						fail(err)
						return
					}
					a.AddFloat32(f32)
				default:
					vals = growF(vals, int(c.Count))
					if err := ckpt.DecodeFloat64(t.DType, raw, vals); err != nil {
						fail(err)
						return
					}
					a.AddFloat64(vals)
				}
				parts[j.t][j.c] = a
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Stats, len(tensors))
	for i := range tensors {
		a := NewAccumulator()
		for _, p := range parts[i] {
			a.Merge(p)
		}
		out[i] = a.Stats()
	}
	return out, nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

func growF32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func growF(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}
