package swin

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Op is a category of work of the forward pass, as a Profile counts it.
type Op int

// The categories of a Profile.
const (
	OpEmbed     Op = iota // patch convolution (gather and product) and its norm
	OpNorm                // norm1 (with the window partition), norm2, the output norms
	OpQKV                 // the qkv product (bias fused)
	OpAttention           // scores, softmax with bias and mask, probabilities·V
	OpProj                // the attention's output projection
	OpFC1                 // the MLP's first product (bias and GELU fused)
	OpFC2                 // the MLP's second product (bias and residual fused)
	OpMerge               // patch merging: gather, norm and reduction
	OpOther               // window reverse with the residual, the output transpose
	NumOps
)

var opNames = [NumOps]string{"embed", "norm", "qkv", "attention", "proj", "fc1", "fc2", "merge", "other"}

func (o Op) String() string {
	if o >= 0 && o < NumOps {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Profile collects the time and the floating-point operations of forward
// passes per category (Options.Profile). Time is wall-clock time measured
// around each step on the goroutine that runs the step; when the images of
// a batch run on several goroutines at once their steps overlap, and the
// sum exceeds the pass's wall time. FLOPs count a multiply-add as 2. A
// Profile may be shared by concurrent passes; its zero value is ready to
// use.
type Profile struct {
	mu    sync.Mutex
	Time  [NumOps]time.Duration
	FLOPs [NumOps]int64
	// Passes is the number of stacks of images profiled (one per image
	// when they run one at a time).
	Passes int
}

// Reset clears the counts.
func (p *Profile) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Time, p.FLOPs, p.Passes = [NumOps]time.Duration{}, [NumOps]int64{}, 0
}

// start returns the time now, or the zero time for a nil Profile (no
// clock read).
func (p *Profile) start() time.Time {
	if p == nil {
		return time.Time{}
	}
	return time.Now()
}

// add counts the time since t0 and flops under op; a nil Profile does
// nothing.
func (p *Profile) add(op Op, t0 time.Time, flops int64) {
	if p == nil {
		return
	}
	d := time.Since(t0)
	p.mu.Lock()
	p.Time[op] += d
	p.FLOPs[op] += flops
	p.mu.Unlock()
}

func (p *Profile) pass() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.Passes++
	p.mu.Unlock()
}

// WriteTable writes one line per category: its time per pass (divided by
// div, say the number of passes timed), its share of the total and its
// GFLOPS, then the total.
func (p *Profile) WriteTable(w io.Writer, div int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	div = max(div, 1)
	var total time.Duration
	var flops int64
	for o := Op(0); o < NumOps; o++ {
		total += p.Time[o]
		flops += p.FLOPs[o]
	}
	line := func(name string, d time.Duration, f int64) error {
		ms := d.Seconds() * 1e3 / float64(div)
		share, gf := 0.0, ""
		if total > 0 {
			share = 100 * float64(d) / float64(total)
		}
		if f > 0 && d > 0 {
			gf = fmt.Sprintf("%8.1f", float64(f)/d.Seconds()/1e9)
		}
		_, err := fmt.Fprintf(w, "%-10s %9.2f ms %5.1f%% %9.3f GFLOP %8s GFLOPS\n", name, ms, share, float64(f)/1e9/float64(div), gf)
		return err
	}
	for o := Op(0); o < NumOps; o++ {
		if err := line(o.String(), p.Time[o], p.FLOPs[o]); err != nil {
			return err
		}
	}
	return line("total", total, flops)
}
