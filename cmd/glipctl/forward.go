package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/formats"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
	"github.com/glipctl/glipctl/internal/preprocess"
	"github.com/glipctl/glipctl/internal/swin"
	"github.com/glipctl/glipctl/internal/zoo"
)

type forwardOptions struct {
	IO *IOStreams

	Model      string
	Images     []string // positional arguments
	NPY        []string // --input, repeatable
	Semantics  string
	OutIndices string
	Size       int
	ShortEdge  int
	NoResize   bool
	Output     string
	Format     string
	Compare    string
	Atol, Rtol float64
	Threads    int
	Zoo        zoo.ResolveOptions
	// Resolve overrides zoo.Resolve (tests).
	Resolve func(ctx context.Context, nameOrPath string) (string, error)

	atolSet, rtolSet bool
}

const forwardLong = `Forward runs the Swin backbone of a GLIP checkpoint on images (or on an
already normalised tensor) in pure Go and reports the features of the output
stages: norm{K}(stage K) as (B, C, H, W), taken before stage K's patch
merging, for K in --out-indices (the model's out_indices, 1,2,3 for both zoo
models).

--model is a checkpoint file of any format glipctl reads (official GLIP or
mmpretrain .pth, safetensors, GGUF; F32, F16, BF16 or Q8_0 weights, computed
in float32) or a zoo name (see 'glipctl zoo'), downloaded on first use. The
architecture is read off the weights; official GLIP checkpoints are remapped
to mmpretrain names in memory.

--semantics picks the backbone to reproduce:
  mmpretrain  (default) mmpretrain's SwinTransformer, what the zoo weights are
              used with: odd blocks shift their windows unless the stage's
              map has min(H, W) == window; a map smaller than the window is
              an error (mmpretrain asserts it).
  glip        the GLIP repo's backbone, what the weights were trained with:
              odd blocks always shift, maps of any size are padded.
Both pad inputs to a multiple of 4, odd maps before patch merging and maps
to a multiple of the window, at the bottom/right.

Inputs are image files (JPEG, PNG) or, with --input, float32 .npy files of
shape (B, 3, H, W) already normalised (no preprocessing). Images are decoded
like PIL's Image.open(...).convert("RGB"), turned to BGR 0..255, resized with
PIL's bilinear filter (antialiased when shrinking) to the model's img_size
square (224 for Swin-T, 384 for Swin-L; --size N for N x N, --short-edge N to
keep the aspect, --no-resize to keep the size), then normalised per channel
with the model's mean and std in BGR order. Several inputs run in turn:
image arguments first, then --input files, each in the order given.

Output: a summary per input and stage on stdout (shape, mean, std
(unbiased), min, max; --format json for one JSON object). -o FILE writes the
features as F32 safetensors, written to a temporary file beside FILE and
renamed: with one input the tensors are "stage{K}"; with several,
"{input}/stage{K}" where {input} is the input's base name ("cat.jpg/stage1"),
followed by "#N" (its position among the inputs, from 1) when two inputs
share a base name.

--compare REF compares the features with the tensors of the same names in
REF (any file glipctl reads, e.g. a safetensors written by -o or by PyTorch)
and prints per stage the max abs diff, max rel diff (|a-b|/|ref| over
elements with ref != 0) and cosine similarity. An element is within
tolerance when |a - ref| <= atol + rtol * |ref| (numpy.allclose's rule; NaN
never is); the command exits 3 when an element is out of tolerance, a shape
differs, or a stage is missing from REF.`

func newForwardCmd(io *IOStreams, runF func(*forwardOptions) error) *cobra.Command {
	opts := &forwardOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "forward --model MODEL [IMAGE...] [--input X.npy]...",
		Short: "Run the Swin backbone on images and report or save its features",
		Long:  forwardLong,
		Example: `  glipctl forward --model swin-t_glip-pre_3rdparty cat.jpg
  glipctl forward --model model.safetensors --semantics glip --short-edge 800 cat.jpg -o feats.safetensors
  glipctl forward --model model.pth --input x.npy --compare ref.safetensors --atol 1e-4 --rtol 1e-3
  glipctl forward --model model.gguf a.png b.png --format json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Images = args
			opts.atolSet = cmd.Flags().Changed("atol")
			opts.rtolSet = cmd.Flags().Changed("rtol")
			resizeFlags := 0
			for _, f := range []string{"size", "short-edge", "no-resize"} {
				if cmd.Flags().Changed(f) {
					resizeFlags++
				}
			}
			if err := opts.validate(resizeFlags); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return forwardRun(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Model, "model", "m", "", "checkpoint `file` or zoo name (required)")
	f.StringArrayVar(&opts.NPY, "input", nil, "float32 (B,3,H,W) normalised `file.npy`, no preprocessing (repeatable)")
	f.StringVar(&opts.Semantics, "semantics", "mmpretrain", "backbone semantics: mmpretrain or glip")
	f.StringVar(&opts.OutIndices, "out-indices", "", "output stages, comma-separated (default: the model's, 1,2,3)")
	f.IntVar(&opts.Size, "size", 0, "resize images to `N`xN (default: the model's img_size)")
	f.IntVar(&opts.ShortEdge, "short-edge", 0, "resize images so the short side is `N`, keeping the aspect")
	f.BoolVar(&opts.NoResize, "no-resize", false, "do not resize images")
	f.StringVarP(&opts.Output, "output", "o", "", "write the features to this safetensors `file`")
	f.StringVar(&opts.Format, "format", "text", "summary format: text or json")
	f.StringVar(&opts.Compare, "compare", "", "compare the features with this reference `file`; exit 3 when out of tolerance")
	f.Float64Var(&opts.Atol, "atol", defaultAtol, "absolute tolerance of --compare")
	f.Float64Var(&opts.Rtol, "rtol", defaultRtol, "relative tolerance of --compare")
	f.IntVar(&opts.Threads, "threads", 0, "goroutines for the matrix products (default: all cores)")
	opts.Zoo.AddFlags(f)
	return cmd
}

func (o *forwardOptions) validate(resizeFlags int) error {
	switch {
	case o.Model == "":
		return usageError("forward needs --model MODEL")
	case len(o.Images) == 0 && len(o.NPY) == 0:
		return usageError("forward needs an IMAGE argument or --input FILE.npy")
	case o.Format != "text" && o.Format != "json":
		return usageError("--format must be text or json, not %q", o.Format)
	case resizeFlags > 1:
		return usageError("--size, --short-edge and --no-resize exclude each other")
	case resizeFlags > 0 && len(o.Images) == 0:
		return usageError("--size, --short-edge and --no-resize apply to image inputs, and there are none")
	case o.Size < 0 || o.ShortEdge < 0 || (o.Size == 0 && o.ShortEdge == 0 && resizeFlags > 0 && !o.NoResize):
		return usageError("--size and --short-edge take a positive number of pixels")
	case o.Size > 1<<15 || o.ShortEdge > 1<<15:
		return usageError("--size and --short-edge are at most %d", 1<<15)
	case (o.atolSet || o.rtolSet) && o.Compare == "":
		return usageError("--atol and --rtol apply to --compare")
	case o.Atol < 0 || o.Rtol < 0 || math.IsNaN(o.Atol) || math.IsNaN(o.Rtol):
		return usageError("--atol and --rtol must be non-negative")
	case o.Threads < 0:
		return usageError("--threads must be positive")
	}
	if _, err := swin.ParseSemantics(o.Semantics); err != nil {
		return usageError("--semantics: %v", err)
	}
	if _, err := parseIndices(o.OutIndices); err != nil {
		return usageError("--out-indices: %v", err)
	}
	return nil
}

// parseIndices parses "1,2,3" (nil for "").
func parseIndices(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, p := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || k < 0 {
			return nil, fmt.Errorf("%q is not a stage index", p)
		}
		for _, prev := range out {
			if prev == k {
				return nil, fmt.Errorf("stage %d given twice", k)
			}
		}
		out = append(out, k)
	}
	return out, nil
}

// defaultImgSize is the input side of a model: the zoo entry's img_size
// when the architecture matches one, else 224 for window 7 and 384 for
// window 12 (the zoo's pairs).
func defaultImgSize(a swin.Arch) (int, bool) {
	if e, ok := zoo.Match(a); ok && e.ImgSize > 0 {
		return e.ImgSize, true
	}
	switch a.Window {
	case 7:
		return 224, true
	case 12:
		return 384, true
	}
	return 0, false
}

// modelPreprocess returns the model's mean, std (BGR) and out_indices: the
// zoo entry's when the architecture matches one, else the GLIP constants.
func modelPreprocess(a swin.Arch) (mean, std [3]float32, outs []int) {
	mean, std, outs = preprocess.MeanBGR, preprocess.StdBGR, swin.DefaultOutIndices
	if e, ok := zoo.Match(a); ok {
		if e.Preprocess.BGR && len(e.Preprocess.Mean) == 3 && len(e.Preprocess.Std) == 3 {
			for i := 0; i < 3; i++ {
				mean[i], std[i] = float32(e.Preprocess.Mean[i]), float32(e.Preprocess.Std[i])
			}
		}
		if len(e.OutIndices) > 0 {
			outs = e.OutIndices
		}
	}
	return mean, std, outs
}

// forwardInput is one input to run.
type forwardInput struct {
	Path  string
	Label string // base name, "#N" appended when not unique
	NPY   bool
}

func forwardInputs(images, npys []string) []forwardInput {
	var in []forwardInput
	for _, p := range images {
		in = append(in, forwardInput{Path: p})
	}
	for _, p := range npys {
		in = append(in, forwardInput{Path: p, NPY: true})
	}
	count := map[string]int{}
	for _, x := range in {
		count[filepath.Base(x.Path)]++
	}
	for i := range in {
		b := filepath.Base(in[i].Path)
		in[i].Label = b
		if count[b] > 1 {
			in[i].Label = fmt.Sprintf("%s#%d", b, i+1)
		}
	}
	return in
}

type stageSummary struct {
	Name  string  `json:"name"`
	Stage int     `json:"stage"`
	Shape []int64 `json:"shape"`
	Mean  float64 `json:"mean"`
	Std   float64 `json:"std"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
}

type inputSummary struct {
	Input   string         `json:"input"`
	Label   string         `json:"label"`
	Source  []int          `json:"source_size,omitempty"` // image H, W before resizing
	Size    []int          `json:"size"`                  // H, W the model saw
	Stages  []stageSummary `json:"stages"`
	Compare []compareLine  `json:"compare,omitempty"`
}

type forwardReport struct {
	Model      string         `json:"model"`
	Arch       swin.Arch      `json:"arch"`
	Semantics  string         `json:"semantics"`
	OutIndices []int          `json:"out_indices"`
	Inputs     []inputSummary `json:"inputs"`
	Output     string         `json:"output,omitempty"`
	Compare    *compareHeader `json:"compare,omitempty"`
}

type compareHeader struct {
	Ref   string   `json:"ref"`
	Atol  float64  `json:"atol"`
	Rtol  float64  `json:"rtol"`
	OK    bool     `json:"ok"`
	Extra []string `json:"extra_in_ref,omitempty"`
}

func forwardRun(ctx context.Context, opts *forwardOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Threads > 0 {
		prev := runtime.GOMAXPROCS(opts.Threads)
		defer runtime.GOMAXPROCS(prev)
	}
	sem, _ := swin.ParseSemantics(opts.Semantics)
	userOuts, _ := parseIndices(opts.OutIndices)
	if err := opts.Zoo.Validate(); err != nil {
		return usageError("%v", err)
	}
	path, err := resolveModel(ctx, opts)
	if err != nil {
		return err
	}
	model, err := loadModel(path)
	if err != nil {
		return err
	}
	mean, std, outs := modelPreprocess(model.Arch)
	if userOuts != nil {
		outs = userOuts
	}
	if slices.Contains(outs, 0) && !slices.Contains(model.OutNorms(), 0) {
		how := "a LayerNorm with weight 1 and bias 0, as mmpretrain initialises a missing norm0"
		if sem == swin.GLIP {
			how = "no norm: GLIP's norm0 is an identity"
		}
		fmt.Fprintf(opts.IO.ErrOut, "glipctl: note: %s has no backbone.norm0; stage 0 uses %s\n", opts.Model, how)
	}
	mode, n := preprocess.ResizeSquare, opts.Size
	switch {
	case opts.NoResize:
		mode = preprocess.ResizeNone
	case opts.ShortEdge > 0:
		mode, n = preprocess.ResizeShortEdge, opts.ShortEdge
	case n == 0 && len(opts.Images) > 0:
		var ok bool
		if n, ok = defaultImgSize(model.Arch); !ok {
			return usageError("%s: no default input size for window %d; pass --size, --short-edge or --no-resize", opts.Model, model.Arch.Window)
		}
	}
	var ref *ckpt.Checkpoint
	if opts.Compare != "" {
		if ref, err = formats.Open(opts.Compare, ckpt.OpenOptions{}); err != nil {
			return err
		}
		defer ref.Close()
	}

	inputs := forwardInputs(opts.Images, opts.NPY)
	rep := forwardReport{Model: opts.Model, Arch: model.Arch, Semantics: string(sem), OutIndices: outs, Output: opts.Output}
	var bar *progressbar.ProgressBar
	if opts.IO.ErrTTY && len(inputs) > 1 {
		bar = progressbar.NewOptions(len(inputs),
			progressbar.OptionSetWriter(opts.IO.ErrOut),
			progressbar.OptionSetDescription("forward"),
			progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish())
	}
	var tensors []*ckpt.Tensor
	produced := map[string]bool{}
	compareOK := true
	// Several inputs run in parallel, each pass on one goroutine (cheaper
	// than one pass at a time on every core); one input runs on every
	// core. Results are taken in input order either way, and do not depend
	// on how the passes were scheduled.
	run := func(ins []forwardInput, workers int) []forwardResult {
		res := make([]forwardResult, len(ins))
		xs := make([]swin.Input, len(ins))
		for i, in := range ins {
			x, srcSize, err := loadForwardInput(in, mode, n, mean, std, model.Arch.InChans)
			res[i] = forwardResult{loadErr: err, h: x.H, w: x.W, srcSize: srcSize}
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
			feats, err := model.Forward(stackInputs(xs[i0:i1]), swin.Options{Semantics: sem, OutIndices: outs, Workers: workers})
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
	results := runForwardInputs(ctx, inputs, run)
	defer results.stop()
	for i, in := range inputs {
		r, err := results.get(ctx, i)
		if err != nil {
			return err
		}
		if r.loadErr != nil {
			return r.loadErr
		}
		x, srcSize, feats, err := r, r.srcSize, r.feats, r.err
		if err != nil {
			var small *swin.SmallMapError
			if errors.As(err, &small) {
				return fmt.Errorf("%s: stage %d: its %dx%d feature map (input %dx%d) is smaller than the %d-token window, which mmpretrain semantics refuse; use --semantics glip (pads small maps) or a larger input (--size)",
					in.Path, small.Stage, small.H, small.W, small.InputH, small.InW, small.Window)
			}
			return fmt.Errorf("%s: %w", in.Path, err)
		}
		is := inputSummary{Input: in.Path, Label: in.Label, Source: srcSize, Size: []int{x.h, x.w}}
		for _, f := range feats {
			name := fmt.Sprintf("stage%d", f.Stage)
			if len(inputs) > 1 {
				name = in.Label + "/" + name
			}
			is.Stages = append(is.Stages, summarize(name, f))
			if ref != nil {
				line := compareFeature(name, f, ref, opts.Atol, opts.Rtol)
				compareOK = compareOK && line.OK
				is.Compare = append(is.Compare, line)
				produced[name] = true
			}
			if opts.Output != "" {
				t, err := ckpt.FromFloat32(name, f.Shape(), f.Data)
				if err != nil {
					return err
				}
				tensors = append(tensors, t)
			}
		}
		rep.Inputs = append(rep.Inputs, is)
		if opts.Format == "text" {
			printInputText(opts.IO, is)
		}
		if bar != nil {
			bar.Add(1)
		}
	}
	if bar != nil {
		bar.Finish()
	}
	if ref != nil {
		ch := &compareHeader{Ref: opts.Compare, Atol: opts.Atol, Rtol: opts.Rtol, OK: compareOK}
		for _, t := range ref.Tensors {
			if !produced[t.Name] {
				ch.Extra = append(ch.Extra, t.Name)
			}
		}
		rep.Compare = ch
		if opts.Format == "text" {
			verdict := "ok"
			if !compareOK {
				verdict = "OUT OF TOLERANCE"
			}
			fmt.Fprintf(opts.IO.Out, "compare with %s (|a-b| <= %g + %g*|ref|): %s\n", opts.Compare, opts.Atol, opts.Rtol, verdict)
			if len(ch.Extra) > 0 {
				fmt.Fprintf(opts.IO.Out, "  not produced here (in %s only): %s\n", opts.Compare, strings.Join(ch.Extra, ", "))
			}
		}
	}
	if opts.Output != "" {
		meta := map[string]string{
			"glipctl.command":   "forward",
			"glipctl.model":     opts.Model,
			"glipctl.arch":      model.Arch.String(),
			"glipctl.semantics": string(sem),
		}
		if err := writeSafetensorsAtomic(opts.Output, tensors, meta); err != nil {
			return err
		}
	}
	if opts.Format == "json" {
		for i := range rep.Inputs {
			jsonSafe(rep.Inputs[i].Compare)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.Out, "%s\n", b)
	}
	if !compareOK {
		var bad []string
		for _, is := range rep.Inputs {
			for _, c := range is.Compare {
				if !c.OK {
					bad = append(bad, c.Name)
				}
			}
		}
		return checkFailed(fmt.Errorf("features differ from %s beyond tolerance (atol %g, rtol %g): %s", opts.Compare, opts.Atol, opts.Rtol, strings.Join(bad, ", ")))
	}
	return nil
}

// resolveModel turns --model into a file path. This is the single place
// where a zoo name is resolved (and downloaded on first use).
func resolveModel(ctx context.Context, opts *forwardOptions) (string, error) {
	if opts.Resolve != nil {
		return opts.Resolve(ctx, opts.Model)
	}
	zo := opts.Zoo
	zo.SetOutput(opts.IO.ErrOut, opts.IO.ErrTTY, false)
	return zoo.Resolve(ctx, opts.Model, zo)
}

// loadModel opens a checkpoint and builds the backbone (weights copied to
// float32; the file is closed before returning).
func loadModel(path string) (*swin.Model, error) {
	c, err := formats.Open(path, ckpt.OpenOptions{})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	m, err := swin.FromCheckpoint(c)
	if err != nil {
		if !strings.Contains(err.Error(), path) {
			err = fmt.Errorf("%s: %w", path, err)
		}
		return nil, err
	}
	return m, nil
}

// forwardResult is the outcome of one input: a load error, or the pass's
// features (or its error) and the sizes the summary reports.
type forwardResult struct {
	loadErr error
	h, w    int
	srcSize []int
	feats   []swin.Feature
	err     error
}

// forwardResults hands out the results of inputs run by runForwardInputs,
// in input order.
type forwardResults struct {
	res  []forwardResult
	done []chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// serial runs input i when there are no workers.
	serial func(i int) forwardResult
}

// forwardStack is the most inputs a worker of runForwardInputs loads and
// runs together (as one batch when they have one size).
const forwardStack = 4

// runForwardInputs runs run on every input: one after the other on the
// calling goroutine's schedule (as get asks) when there is one input or
// one core, else on min(GOMAXPROCS, inputs) goroutines, each taking up to
// forwardStack consecutive inputs at a time and running their passes on
// that goroutine alone (workers = 1).
func runForwardInputs(ctx context.Context, inputs []forwardInput, run func([]forwardInput, int) []forwardResult) *forwardResults {
	r := &forwardResults{res: make([]forwardResult, len(inputs)), quit: make(chan struct{})}
	procs := runtime.GOMAXPROCS(0)
	workers := min(procs, len(inputs))
	if workers <= 1 {
		r.done = nil
		r.res = nil
		r.serial = func(i int) forwardResult { return run(inputs[i:i+1], 0)[0] }
		return r
	}
	// Chunks small enough for every worker to get a share.
	chunk := max(1, min(forwardStack, len(inputs)/procs))
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

// get returns input i's result, waiting for it; results must be taken in
// order, each once.
func (r *forwardResults) get(ctx context.Context, i int) (forwardResult, error) {
	if err := ctx.Err(); err != nil {
		return forwardResult{}, err
	}
	if r.serial != nil {
		return r.serial(i), nil
	}
	select {
	case <-r.done[i]:
	case <-ctx.Done():
		return forwardResult{}, ctx.Err()
	}
	res := r.res[i]
	r.res[i] = forwardResult{} // let the features go once used
	return res, nil
}

// stop ends the workers (after their current input) and waits for them.
func (r *forwardResults) stop() {
	r.once.Do(func() { close(r.quit) })
	r.wg.Wait()
}

// stackInputs returns inputs of one shape as one batch (the input itself
// when there is one).
func stackInputs(xs []swin.Input) swin.Input {
	if len(xs) == 1 {
		return xs[0]
	}
	x := xs[0]
	x.N = 0
	x.Data = nil
	for _, xi := range xs {
		x.N += xi.N
		x.Data = append(x.Data, xi.Data...)
	}
	return x
}

// imageFeatures returns image b of a batch's features, as a batch of one.
func imageFeatures(feats []swin.Feature, b int) []swin.Feature {
	out := make([]swin.Feature, len(feats))
	for i, f := range feats {
		per := f.C * f.H * f.W
		f.N = 1
		f.Data = f.Data[b*per : (b+1)*per]
		out[i] = f
	}
	return out
}

// loadForwardInput reads one input: a .npy tensor as is, or an image
// decoded, resized and normalised. srcSize is the image's H, W before
// resizing (nil for .npy).
func loadForwardInput(in forwardInput, mode preprocess.ResizeMode, n int, mean, std [3]float32, inChans int) (swin.Input, []int, error) {
	if in.NPY {
		shape, data, err := preprocess.ReadNPY(in.Path)
		if err != nil {
			return swin.Input{}, nil, err
		}
		if len(shape) != 4 || shape[0] < 1 || shape[1] != inChans || shape[2] < 1 || shape[3] < 1 {
			return swin.Input{}, nil, fmt.Errorf("%s: shape %v, want (B, %d, H, W)", in.Path, shape, inChans)
		}
		return swin.Input{N: shape[0], C: shape[1], H: shape[2], W: shape[3], Data: data}, nil, nil
	}
	if inChans != 3 {
		return swin.Input{}, nil, fmt.Errorf("%s: the model takes %d input channels, images have 3", in.Path, inChans)
	}
	img, err := preprocess.Load(in.Path)
	if err != nil {
		return swin.Input{}, nil, err
	}
	src := []int{img.H, img.W}
	w, h := preprocess.Target(mode, n, img.W, img.H)
	if img, err = img.Resize(w, h); err != nil {
		return swin.Input{}, nil, fmt.Errorf("%s: %w", in.Path, err)
	}
	return swin.Input{N: 1, C: 3, H: img.H, W: img.W, Data: img.Normalize(mean, std)}, src, nil
}

func summarize(name string, f swin.Feature) stageSummary {
	s := stageSummary{Name: name, Stage: f.Stage, Shape: f.Shape(), Min: math.Inf(1), Max: math.Inf(-1)}
	var sum float64
	for _, v := range f.Data {
		x := float64(v)
		sum += x
		s.Min = math.Min(s.Min, x)
		s.Max = math.Max(s.Max, x)
	}
	n := float64(len(f.Data))
	s.Mean = sum / n
	var sq float64
	for _, v := range f.Data {
		d := float64(v) - s.Mean
		sq += d * d
	}
	if len(f.Data) > 1 {
		s.Std = math.Sqrt(sq / (n - 1))
	}
	return s
}

func printInputText(io *IOStreams, is inputSummary) {
	size := fmt.Sprintf("%dx%d", is.Size[0], is.Size[1])
	if is.Source != nil && (is.Source[0] != is.Size[0] || is.Source[1] != is.Size[1]) {
		size = fmt.Sprintf("%dx%d resized to %s", is.Source[0], is.Source[1], size)
	}
	fmt.Fprintf(io.Out, "%s (%s)\n", is.Input, size)
	for _, s := range is.Stages {
		fmt.Fprintf(io.Out, "  %-8s %-20s mean %10.6g  std %10.6g  min %10.6g  max %10.6g\n",
			strings.TrimPrefix(s.Name, is.Label+"/"), ckpt.ShapeString(s.Shape), s.Mean, s.Std, s.Min, s.Max)
	}
	for _, c := range is.Compare {
		fmt.Fprintf(io.Out, "  %s\n", c.text(strings.TrimPrefix(c.Name, is.Label+"/")))
	}
}

// compareFeature compares one output with the reference tensor of the
// same name.
func compareFeature(name string, f swin.Feature, ref *ckpt.Checkpoint, atol, rtol float64) compareLine {
	t := ref.Tensor(name)
	if t == nil {
		return compareLine{Name: name, Shape: f.Shape(), Problem: "missing from the reference"}
	}
	got := make([]float64, len(f.Data))
	for i, v := range f.Data {
		got[i] = float64(v)
	}
	return compareValues(name, f.Shape(), got, t, atol, rtol)
}

// writeSafetensorsAtomic writes tensors to a temporary file in path's
// directory and renames it to path; on error nothing is left behind.
func writeSafetensorsAtomic(path string, tensors []*ckpt.Tensor, meta map[string]string) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = safetensors.Write(tmp, tensors, meta); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
