package forward

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/compare"
	"github.com/glipctl/glipctl/internal/swin"
)

// Stack is the most inputs a worker loads and runs together (as one batch
// when they have one size).
const Stack = 4

// Options says how Run runs the model.
type Options struct {
	Semantics  swin.Semantics
	OutIndices []int
	Preprocess Preprocess
	// Reference, when not nil, is compared with each input's features: the
	// tensors of the same names (TensorName), with Tolerance.
	Reference *ckpt.Checkpoint
	Tolerance compare.Tolerance
	// KeepInput keeps each result's model input (Result.X).
	KeepInput bool
}

// Result is one input's outcome.
type Result struct {
	Input Input
	// Source is the image's H, W before resizing (nil for .npy inputs);
	// Size the H, W the model saw.
	Source []int
	Size   []int
	// X is the tensor the model was fed (with Options.KeepInput).
	X swin.Input
	// Features are the output stages, in OutIndices order.
	Features []swin.Feature
	// Stages summarise Features; Compare holds their comparisons with the
	// reference, when there is one.
	Stages  []StageSummary
	Compare []compare.Result
}

// InputError is a failure of one input (loading it or running the pass on
// it).
type InputError struct {
	Path string
	Err  error
}

func (e *InputError) Error() string {
	if msg := e.Err.Error(); strings.HasPrefix(msg, e.Path+": ") {
		return msg // already names the input
	}
	return e.Path + ": " + e.Err.Error()
}
func (e *InputError) Unwrap() error { return e.Err }

// Run runs m on every input and calls each with the inputs' results, in
// input order, from the calling goroutine. It stops at the first error: an
// input's (an *InputError), each's, or ctx's.
func Run(ctx context.Context, m *swin.Model, inputs []Input, opts Options, each func(*Result) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	run := func(ins []Input, workers int) []outcome {
		res := make([]outcome, len(ins))
		xs := make([]swin.Input, len(ins))
		for i, in := range ins {
			x, src, err := load(in, opts.Preprocess, m.Arch.InChans)
			res[i] = outcome{loadErr: err, h: x.H, w: x.W, src: src}
			if opts.KeepInput {
				res[i].x = x
			}
			xs[i] = x
		}
		// Consecutive single images of one size run as one batch.
		for i0 := 0; i0 < len(ins); {
			if res[i0].loadErr != nil {
				i0++
				continue
			}
			i1 := i0 + 1
			for xs[i0].N == 1 && i1 < len(ins) && res[i1].loadErr == nil && xs[i1].N == 1 && xs[i1].H == xs[i0].H && xs[i1].W == xs[i0].W && xs[i1].C == xs[i0].C {
				i1++
			}
			feats, err := m.Forward(stack(xs[i0:i1]), swin.Options{Semantics: opts.Semantics, OutIndices: opts.OutIndices, Workers: workers})
			for i := i0; i < i1; i++ {
				res[i].err = err
				switch {
				case err == nil && i1 == i0+1:
					res[i].feats = feats
				case err == nil:
					res[i].feats = imageFeatures(feats, i-i0)
				}
			}
			i0 = i1
		}
		return res
	}
	results := schedule(ctx, inputs, run)
	defer results.stop()
	for i, in := range inputs {
		o, err := results.get(ctx, i)
		if err != nil {
			return err
		}
		if o.loadErr != nil {
			return &InputError{Path: in.Path, Err: o.loadErr}
		}
		if o.err != nil {
			return &InputError{Path: in.Path, Err: o.err}
		}
		r := &Result{Input: in, Source: o.src, Size: []int{o.h, o.w}, X: o.x, Features: o.feats}
		for _, f := range o.feats {
			name := TensorName(in, f.Stage, len(inputs))
			r.Stages = append(r.Stages, Summarize(name, f))
			if opts.Reference != nil {
				c, err := compareFeature(name, f, opts.Reference, opts.Tolerance)
				if err != nil {
					return err
				}
				r.Compare = append(r.Compare, c)
			}
		}
		if err := each(r); err != nil {
			return err
		}
	}
	return nil
}

// compareFeature compares one output with the reference tensor of the
// same name; the error is reading the reference.
func compareFeature(name string, f swin.Feature, ref *ckpt.Checkpoint, tol compare.Tolerance) (compare.Result, error) {
	t := ref.Tensor(name)
	if t == nil {
		return compare.Missing(name, f.Shape()), nil
	}
	got := make([]float64, len(f.Data))
	for i, v := range f.Data {
		got[i] = float64(v)
	}
	c, err := compare.Values(name, f.Shape(), got, t, tol)
	if err != nil {
		return c, fmt.Errorf("%s: tensor %s: %w", ref.Path, name, err)
	}
	return c, nil
}

// outcome is what a worker produced for one input: a load error, or the
// pass's features (or its error) and the sizes the summary reports.
type outcome struct {
	loadErr error
	h, w    int
	src     []int
	x       swin.Input
	feats   []swin.Feature
	err     error
}

// outcomes hands out the outcomes of the inputs schedule runs, in input
// order.
type outcomes struct {
	res  []outcome
	done []chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// serial runs input i when there are no workers.
	serial func(i int) outcome
}

// schedule runs run on every input: one after the other on the caller's
// schedule (as get asks) when there is one input or one core, else on
// min(GOMAXPROCS, inputs) goroutines, each taking up to Stack consecutive
// inputs at a time and running their passes on that goroutine alone
// (workers = 1).
func schedule(ctx context.Context, inputs []Input, run func([]Input, int) []outcome) *outcomes {
	r := &outcomes{quit: make(chan struct{})}
	procs := runtime.GOMAXPROCS(0)
	workers := min(procs, len(inputs))
	if workers <= 1 {
		r.serial = func(i int) outcome { return run(inputs[i:i+1], 0)[0] }
		return r
	}
	r.res = make([]outcome, len(inputs))
	// Chunks small enough for every worker to get a share.
	chunk := max(1, min(Stack, len(inputs)/procs))
	chunks := (len(inputs) + chunk - 1) / chunk
	r.done = make([]chan struct{}, len(inputs))
	for i := range r.done {
		r.done[i] = make(chan struct{})
	}
	var next atomic.Int64
	r.wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer r.wg.Done()
			for {
				t := int(next.Add(1) - 1)
				if t >= chunks {
					return
				}
				select {
				case <-r.quit:
					return
				case <-ctx.Done():
					return
				default:
				}
				i0, i1 := t*chunk, min((t+1)*chunk, len(inputs))
				for i, res := range run(inputs[i0:i1], 1) {
					r.res[i0+i] = res
					close(r.done[i0+i])
				}
			}
		}()
	}
	return r
}

// get returns input i's outcome, waiting for it; outcomes must be taken in
// order, each once.
func (r *outcomes) get(ctx context.Context, i int) (outcome, error) {
	if err := ctx.Err(); err != nil {
		return outcome{}, err
	}
	if r.serial != nil {
		return r.serial(i), nil
	}
	select {
	case <-r.done[i]:
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
	res := r.res[i]
	r.res[i] = outcome{} // let the features go once used
	return res, nil
}

// stop ends the workers (after their current input) and waits for them.
func (r *outcomes) stop() {
	r.once.Do(func() { close(r.quit) })
	r.wg.Wait()
}
