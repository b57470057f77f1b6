// Package parallel runs a loop over the indices [0, n) on several
// goroutines, in contiguous chunks, when the loop is long enough for the
// goroutines to pay off.
//
// For calls its body on chunks [lo, hi) that cover [0, n) exactly once,
// in no particular order and possibly at the same time, so the body must
// write disjoint outputs for disjoint chunks; a result that depends only on
// the index is then the same for any number of workers and any chunking.
// The calling goroutine takes part: it runs chunks itself and returns when
// every chunk is done. A loop whose whole cost is under MinWork runs as one
// body(0, n) call on the calling goroutine, with no goroutine started.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// MinWork is the smallest loop, in cost units (about one multiply-add
// each: some tens of microseconds in all), that For spreads over
// goroutines; a smaller one costs less on one goroutine than the start-up
// and hand-over of others.
const MinWork = 1 << 16

// Workers returns the goroutine count For uses for a requested count w:
// w itself when positive, else GOMAXPROCS.
func Workers(w int) int {
	if w > 0 {
		return w
	}
	return max(runtime.GOMAXPROCS(0), 1)
}

// For runs body over [0, n) in contiguous chunks on up to Workers(workers)
// goroutines, the caller's included. cost is the rough cost of one index,
// in multiply-adds; n*cost below MinWork runs body(0, n) on the caller.
// Each worker takes chunks in turn from a shared counter (a few chunks per
// worker even out uneven ones), so a worker that does not get to run
// leaves its share to the others.
func For(workers, n, cost int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := Workers(workers)
	if w == 1 || n == 1 || int64(n)*int64(max(cost, 1)) < MinWork {
		body(0, n)
		return
	}
	chunks := min(n, 4*w)
	per := (n + chunks - 1) / chunks
	chunks = (n + per - 1) / per
	w = min(w, chunks)
	var next atomic.Int64
	run := func() {
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks {
				return
			}
			body(c*per, min((c+1)*per, n))
		}
	}
	var wg sync.WaitGroup
	wg.Add(w - 1)
	for range w - 1 {
		go func() {
			defer wg.Done()
			run()
		}()
	}
	run()
	wg.Wait()
}
