package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestForCoversOnce: every index is visited exactly once, in chunks that
// do not overlap, for loop lengths around the chunking's edges and any
// worker count; short loops run as one call on the caller.
func TestForCoversOnce(t *testing.T) {
	for _, workers := range []int{0, 1, 2, 3, 7} {
		for _, n := range []int{0, 1, 2, 3, 5, 8, 9, 31, 64, 100, 1000} {
			for _, cost := range []int{1, MinWork / 4, MinWork} {
				hits := make([]atomic.Int32, n)
				var calls atomic.Int32
				For(workers, n, cost, func(lo, hi int) {
					calls.Add(1)
					if lo < 0 || hi > n || lo >= hi {
						t.Errorf("workers %d n %d: chunk [%d, %d)", workers, n, lo, hi)
						return
					}
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Fatalf("workers %d n %d cost %d: index %d visited %d times", workers, n, cost, i, h)
					}
				}
				if n > 0 && int64(n)*int64(cost) < MinWork && calls.Load() != 1 {
					t.Errorf("workers %d n %d cost %d: %d calls for a short loop, want 1", workers, n, cost, calls.Load())
				}
			}
		}
	}
}

// TestForRunsConcurrently: with two workers and a long loop, two chunks
// are in the body at the same time: each waits for the other to start,
// which would deadlock if one goroutine ran both in turn.
func TestForRunsConcurrently(t *testing.T) {
	var started sync.WaitGroup
	started.Add(2)
	var first atomic.Int32
	For(2, 2, MinWork, func(lo, hi int) {
		if first.Add(1) <= 2 {
			started.Done()
			started.Wait()
		}
	})
	if first.Load() != 2 {
		t.Fatalf("%d chunks, want 2", first.Load())
	}
}

func TestWorkers(t *testing.T) {
	if got := Workers(3); got != 3 {
		t.Errorf("Workers(3) = %d", got)
	}
	if got, want := Workers(0), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("Workers(0) = %d, want GOMAXPROCS %d", got, want)
	}
}
