package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/glipctl/glipctl/internal/atomicfile"
	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/formats"
	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/compare"
	"github.com/glipctl/glipctl/internal/forward"
	"github.com/glipctl/glipctl/internal/preprocess"
	"github.com/glipctl/glipctl/internal/swin"
)

type forwardOptions struct {
	IO *IOStreams

	Model      string
	Images     []string // positional arguments
	NPY        []string // --input, repeatable
	Semantics  string
	OutIndices string
	Size       string // "N" or "HxW"
	ShortEdge  int
	NoResize   bool
	Pipeline   string // --preprocess
	Interp     string
	Output     string
	Format     string
	Compare    string
	Atol, Rtol float64
	Threads    int
	SaveInput  string
	FilesFrom  string // dataset mode: the input list ("-": stdin)
	OutDir     string
	Shard      string
	Zoo        cli.Zoo
	// Getenv reads the environment (the shard index); nil is os.Getenv.
	Getenv func(string) string
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
in float32) or a zoo name (see 'glipctl zoo'), downloaded on first use;
without --model, the zoo's ` + defaultForwardModel + ` (its path is named on
stderr; --offline forbids the download). The
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
shape (B, 3, H, W) already normalised (no preprocessing). Images go through
one of two pipelines, each reproducing its library bit for bit (JPEG decoded
as libjpeg-turbo decodes it, which both libraries use):
  pil  (default) what GLIP's and mmdet's GLIP transforms see:
       Image.open(p).convert("RGB"), no EXIF rotation, Image.resize with
       BILINEAR (antialiased when shrinking) or, with --interp bicubic,
       BICUBIC;
  cv2  what mmpretrain's and mmcv's pipelines see: cv2.imread(p,
       IMREAD_COLOR), EXIF orientation applied, cv2.resize with INTER_LINEAR
       or INTER_CUBIC.
Images are resized to the model's img_size square (224 for Swin-T, 384 for
Swin-L; --size N or HxW, --short-edge N to keep the aspect, --no-resize to
keep the size), then normalised per channel with the model's mean and std in
BGR order. --save-input FILE.npy writes the exact (B, 3, H, W) tensor the
model was fed. Several inputs run in turn: image arguments first, then
--input files, each in the order given.

Datasets: --files-from LIST (one path per line, "-" for stdin; blank lines
and "#" comments skipped) with --out-dir DIR writes one features file per
input (DIR/{base name}.safetensors, tensors stage{K}; "-" and 8 hex digits
of the path's SHA-256 are added when two inputs share a base name) and
DIR/manifest-I-of-N.jsonl, one JSON line per input in list order (input
path and sha256, output file, each stage's shape and statistics).
--shard I/N processes the I-th (0-based) of N contiguous, disjoint slices
of the list; --shard /N takes I from $JOB_COMPLETION_INDEX (Kubernetes
Indexed Jobs) or $SLURM_ARRAY_TASK_ID. Shards may share DIR. A rerun keeps
every output that is complete and was made from the same input bytes with
the same model, semantics, preprocessing and stages, and redoes the rest,
so a killed job resumes and writes the same files.

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
		Example: `  glipctl forward cat.jpg
  glipctl forward --model swin-l_glip-pre_3rdparty_384px cat.jpg --save-input x.npy
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
	f.StringVarP(&opts.Model, "model", "m", "", "checkpoint `file` or zoo name (default "+defaultForwardModel+")")
	f.StringArrayVar(&opts.NPY, "input", nil, "float32 (B,3,H,W) normalised `file.npy`, no preprocessing (repeatable)")
	f.StringVar(&opts.Semantics, "semantics", "mmpretrain", "backbone semantics: mmpretrain or glip")
	f.StringVar(&opts.OutIndices, "out-indices", "", "output stages, comma-separated (default: the model's, 1,2,3)")
	f.StringVar(&opts.Size, "size", "", "resize images to `N`xN or HxW (default: the model's img_size square)")
	f.IntVar(&opts.ShortEdge, "short-edge", 0, "resize images so the short side is `N`, keeping the aspect")
	f.BoolVar(&opts.NoResize, "no-resize", false, "do not resize images")
	f.StringVar(&opts.Pipeline, "preprocess", "pil", "image pipeline: pil (PIL: Image.open().convert(\"RGB\"), Image.resize) or cv2 (OpenCV: cv2.imread with EXIF rotation, cv2.resize)")
	f.StringVar(&opts.Interp, "interp", "bilinear", "resize interpolation: bilinear or bicubic")
	f.StringVarP(&opts.Output, "output", "o", "", "write the features to this safetensors `file`")
	f.StringVar(&opts.Format, "format", "text", "summary format: text or json")
	f.StringVar(&opts.Compare, "compare", "", "compare the features with this reference `file`; exit 3 when out of tolerance")
	f.Float64Var(&opts.Atol, "atol", compare.DefaultAtol, "absolute tolerance of --compare")
	f.Float64Var(&opts.Rtol, "rtol", compare.DefaultRtol, "relative tolerance of --compare")
	f.StringVar(&opts.FilesFrom, "files-from", "", "dataset mode: read the inputs from this `list` (one path per line, - for stdin)")
	f.StringVar(&opts.OutDir, "out-dir", "", "dataset mode: write one features file per input and the manifest into this `dir`")
	f.StringVar(&opts.Shard, "shard", "", "dataset mode: process slice `I/N` of the list (0-based; /N reads I from $JOB_COMPLETION_INDEX or $SLURM_ARRAY_TASK_ID)")
	f.StringVar(&opts.SaveInput, "save-input", "", "write the float32 (B,3,H,W) tensor fed to the model to this `file.npy`")
	f.IntVar(&opts.Threads, "threads", 0, "goroutines for the matrix products (default: all cores)")
	opts.Zoo.AddFlags(f)
	return cmd
}

func (o *forwardOptions) validate(resizeFlags int) error {
	if o.FilesFrom != "" || o.OutDir != "" || o.Shard != "" {
		switch {
		case o.FilesFrom == "" || o.OutDir == "":
			return usageError("--files-from and --out-dir go together")
		case len(o.Images) > 0 || len(o.NPY) > 0:
			return usageError("--files-from takes the inputs from its list, not from arguments or --input")
		case o.Output != "" || o.Compare != "" || o.SaveInput != "":
			return usageError("-o, --compare and --save-input do not apply to --files-from (outputs go to --out-dir)")
		}
	}
	switch {
	case o.FilesFrom != "":
	case len(o.Images) == 0 && len(o.NPY) == 0:
		return usageError("forward needs an IMAGE argument or --input FILE.npy")
	case resizeFlags > 1:
		return usageError("--size, --short-edge and --no-resize exclude each other")
	case resizeFlags > 0 && len(o.Images) == 0 && o.FilesFrom == "":
		return usageError("--size, --short-edge and --no-resize apply to image inputs, and there are none")
	case o.ShortEdge < 0 || (o.Size == "" && o.ShortEdge == 0 && resizeFlags > 0 && !o.NoResize):
		return usageError("--size and --short-edge take a positive number of pixels")
	case o.ShortEdge > maxSide:
		return usageError("--size and --short-edge are at most %d", maxSide)
	case (o.atolSet || o.rtolSet) && o.Compare == "":
		return usageError("--atol and --rtol apply to --compare")
	case o.Atol < 0 || o.Rtol < 0 || math.IsNaN(o.Atol) || math.IsNaN(o.Rtol):
		return usageError("--atol and --rtol must be non-negative")
	case o.Threads < 0:
		return usageError("--threads must be positive")
	}
	if err := checkFormat(o.Format, "text", "json"); err != nil {
		return err
	}
	if o.Size != "" {
		if _, err := preprocess.ParseSize(o.Size, maxSide); err != nil {
			return usageError("--size: %v", err)
		}
	}
	if _, err := preprocess.ParsePipeline(o.Pipeline); err != nil {
		return usageError("--preprocess: %v", err)
	}
	if _, err := preprocess.ParseInterp(o.Interp); err != nil {
		return usageError("--interp: %v", err)
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

type inputSummary struct {
	Input   string                 `json:"input"`
	Label   string                 `json:"label"`
	Source  []int                  `json:"source_size,omitempty"` // image H, W before resizing
	Size    []int                  `json:"size"`                  // H, W the model saw
	Stages  []forward.StageSummary `json:"stages"`
	Compare []compare.Result       `json:"compare,omitempty"`
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
	if opts.Model == "" {
		opts.Model = defaultForwardModel
	}
	path, err := resolveModel(ctx, opts)
	if err != nil {
		return err
	}
	if path != opts.Model {
		fmt.Fprintf(opts.IO.ErrOut, "glipctl: model %s: %s\n", opts.Model, path)
	}
	model, warnings, err := forward.LoadModel(path)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		opts.IO.warn(path, w)
	}
	mean, std, outs := forward.ModelPreprocess(model.Arch)
	if userOuts != nil {
		outs = userOuts
	} else {
		// A layout without GLIP's per-stage norms (hf-model, timm,
		// torchvision keep only the last) gives the stages it has norms for.
		var have, lack []int
		for _, k := range outs {
			if k == 0 || slices.Contains(model.OutNorms(), k) {
				have = append(have, k)
			} else {
				lack = append(lack, k)
			}
		}
		if len(lack) > 0 && len(have) > 0 {
			fmt.Fprintf(opts.IO.ErrOut, "glipctl: note: %s has no per-stage norm for stages %s (its layout has no slot for them): output stages %s\n", opts.Model, joinIntList(lack), joinIntList(have))
			outs = have
		}
	}
	if slices.Contains(outs, 0) && !slices.Contains(model.OutNorms(), 0) {
		how := "a LayerNorm with weight 1 and bias 0, as mmpretrain initialises a missing norm0"
		if sem == swin.GLIP {
			how = "no norm: GLIP's norm0 is an identity"
		}
		fmt.Fprintf(opts.IO.ErrOut, "glipctl: note: %s has no backbone.norm0; stage 0 uses %s\n", opts.Model, how)
	}
	pipeline, _ := preprocess.ParsePipeline(opts.Pipeline)
	interp, _ := preprocess.ParseInterp(opts.Interp)
	pre := forward.Preprocess{Image: preprocess.Options{Pipeline: pipeline, Interp: interp}, Mean: mean, Std: std}
	switch {
	case opts.NoResize:
		pre.Image.Size = preprocess.Size{Mode: preprocess.ResizeNone}
	case opts.ShortEdge > 0:
		pre.Image.Size = preprocess.Size{Mode: preprocess.ResizeShortEdge, N: opts.ShortEdge}
	case opts.Size != "":
		pre.Image.Size, _ = preprocess.ParseSize(opts.Size, maxSide)
	case len(opts.Images) > 0 || opts.FilesFrom != "":
		n, ok := forward.DefaultImgSize(model.Arch)
		if !ok {
			return usageError("%s: no default input size for window %d; pass --size, --short-edge or --no-resize", opts.Model, model.Arch.Window)
		}
		pre.Image.Size = preprocess.Size{Mode: preprocess.ResizeSquare, W: n, H: n}
	}
	fo := forward.Options{Semantics: sem, OutIndices: outs, Preprocess: pre, Tolerance: compare.Tolerance{Atol: opts.Atol, Rtol: opts.Rtol},
		KeepInput: opts.SaveInput != ""}
	if opts.Compare != "" {
		ref, err := formats.Open(opts.Compare, ckpt.OpenOptions{})
		if err != nil {
			return err
		}
		defer ref.Close()
		fo.Reference = ref
	}

	if opts.FilesFrom != "" {
		return forwardDataset(ctx, opts, path, model, fo)
	}
	inputs := forward.Inputs(opts.Images, opts.NPY)
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
	var fed []*forward.Result // with --save-input
	produced := map[string]bool{}
	compareOK := true
	err = forward.Run(ctx, model, inputs, fo, func(r *forward.Result) error {
		is := inputSummary{Input: r.Input.Path, Label: r.Input.Label, Source: r.Source, Size: r.Size, Stages: r.Stages, Compare: r.Compare}
		for _, c := range r.Compare {
			compareOK = compareOK && c.OK
			produced[c.Name] = true
		}
		if opts.Output != "" {
			ts, err := r.Tensors(len(inputs))
			if err != nil {
				return err
			}
			tensors = append(tensors, ts...)
		}
		if opts.SaveInput != "" {
			fed = append(fed, &forward.Result{Input: r.Input, X: r.X})
		}
		rep.Inputs = append(rep.Inputs, is)
		if opts.Format == "text" {
			printInputText(opts.IO, is)
		}
		if bar != nil {
			bar.Add(1)
		}
		return nil
	})
	if err != nil {
		var small *swin.SmallMapError
		var in *forward.InputError
		if errors.As(err, &small) && errors.As(err, &in) {
			return fmt.Errorf("%s: stage %d: its %dx%d feature map (input %dx%d) is smaller than the %d-token window, which mmpretrain semantics refuse; use --semantics glip (pads small maps) or a larger input (--size)",
				in.Path, small.Stage, small.H, small.W, small.InputH, small.InW, small.Window)
		}
		return err
	}
	if bar != nil {
		bar.Finish()
	}
	if fo.Reference != nil {
		ch := &compareHeader{Ref: opts.Compare, Atol: opts.Atol, Rtol: opts.Rtol, OK: compareOK}
		for _, t := range fo.Reference.Tensors {
			if !produced[t.Name] {
				ch.Extra = append(ch.Extra, t.Name)
			}
		}
		rep.Compare = ch
		if opts.IO.Actions != nil {
			var all []compare.Result
			for _, is := range rep.Inputs {
				all = append(all, is.Compare...)
			}
			var notes []string
			for _, n := range ch.Extra {
				notes = append(notes, "not produced here (in the reference only): "+n)
			}
			var md bytes.Buffer
			compare.WriteMarkdown(&md, fmt.Sprintf("glipctl forward %s --compare %s", opts.Model, opts.Compare), compareOK, fo.Tolerance, all, notes)
			opts.IO.summarize(md.Bytes())
		}
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
	// The features file and the saved input commit together.
	var files []*atomicfile.File
	defer func() {
		for _, f := range files {
			f.Abort()
		}
	}()
	if opts.SaveInput != "" {
		x, err := forward.Batch(fed)
		if err != nil {
			return fmt.Errorf("--save-input %s: %w", opts.SaveInput, err)
		}
		f, err := forward.WriteInput(ctx, opts.SaveInput, x)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	if opts.Output != "" {
		meta := map[string]string{
			"glipctl.command":   "forward",
			"glipctl.model":     opts.Model,
			"glipctl.arch":      model.Arch.String(),
			"glipctl.semantics": string(sem),
		}
		f, err := forward.WriteFeatures(ctx, opts.Output, tensors, meta)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	if len(files) > 0 {
		if err := atomicfile.Commit(files...); err != nil {
			return err
		}
	}
	if opts.Format == "json" {
		if err := writeJSONLine(opts.IO.Out, rep); err != nil {
			return err
		}
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
		return checkFailedOn(opts.Compare, fmt.Errorf("features differ from %s beyond tolerance (atol %g, rtol %g): %s", opts.Compare, opts.Atol, opts.Rtol, strings.Join(bad, ", ")))
	}
	return nil
}

// defaultForwardModel is the model forward runs without --model.
const defaultForwardModel = "swin-t_glip-pre_3rdparty"

// resolveModel turns --model into a file path. This is the single place
// where a zoo name is resolved (and downloaded on first use).
func resolveModel(ctx context.Context, opts *forwardOptions) (string, error) {
	if opts.Resolve != nil {
		return opts.Resolve(ctx, opts.Model)
	}
	zo := opts.Zoo
	zo.SetOutput(opts.IO.ErrOut, opts.IO.ErrTTY, false)
	return zo.Resolve(ctx, opts.Model)
}

func printInputText(io *IOStreams, is inputSummary) {
	size := fmt.Sprintf("%dx%d", is.Size[0], is.Size[1])
	if is.Source != nil && (is.Source[0] != is.Size[0] || is.Source[1] != is.Size[1]) {
		size = fmt.Sprintf("%dx%d resized to %s", is.Source[0], is.Source[1], size)
	}
	fmt.Fprintf(io.Out, "%s (%s)\n", is.Input, size)
	for _, s := range is.Stages {
		line := fmt.Sprintf("  %-8s %-20s mean %10.6g  std %10.6g  min %10.6g  max %10.6g",
			strings.TrimPrefix(s.Name, is.Label+"/"), ckpt.ShapeString(s.Shape), float64(s.Mean), float64(s.Std), float64(s.Min), float64(s.Max))
		if s.NaN > 0 || s.Inf > 0 {
			// The statistics above are over the finite values.
			line += fmt.Sprintf("  nan %d  inf %d", s.NaN, s.Inf)
		}
		fmt.Fprintln(io.Out, line)
	}
	for _, c := range is.Compare {
		fmt.Fprintf(io.Out, "  %s\n", c.Text(strings.TrimPrefix(c.Name, is.Label+"/")))
	}
}

// forwardDataset is forward --files-from: the shard's inputs to one
// features file each in --out-dir, and the shard's manifest.
func forwardDataset(ctx context.Context, opts *forwardOptions, modelPath string, model *swin.Model, fo forward.Options) error {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	shard := forward.Shard{Index: 0, Count: 1}
	if opts.Shard != "" {
		var err error
		if shard, err = forward.ParseShard(opts.Shard, getenv); err != nil {
			return usageError("--shard: %v", err)
		}
	}
	var list io.Reader = opts.IO.In
	if opts.FilesFrom != "-" {
		f, err := os.Open(opts.FilesFrom)
		if err != nil {
			return err
		}
		defer f.Close()
		list = f
	}
	paths, err := forward.ReadList(list)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.FilesFrom, err)
	}
	if len(paths) == 0 {
		return fmt.Errorf("%s: the input list is empty", opts.FilesFrom)
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return err
	}
	sum, err := opts.Zoo.Digests().File(ctx, modelPath)
	if err != nil {
		return err
	}
	fp := map[string]string{
		"glipctl.command":       "forward",
		"glipctl.model":         opts.Model,
		"glipctl.model_sha256":  sum.SHA256,
		"glipctl.arch":          model.Arch.String(),
		"glipctl.semantics":     string(fo.Semantics),
		"glipctl.out_indices":   fmt.Sprint(fo.OutIndices),
		"glipctl.preprocessing": preprocessingString(fo.Preprocess),
	}
	lo, hi := shard.Range(len(paths))
	var bar *progressbar.ProgressBar
	if opts.IO.ErrTTY && hi > lo {
		bar = progressbar.NewOptions(hi-lo,
			progressbar.OptionSetWriter(opts.IO.ErrOut),
			progressbar.OptionSetDescription(fmt.Sprintf("forward shard %d/%d", shard.Index, shard.Count)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("img"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish())
	}
	res, err := forward.RunDataset(ctx, model, forward.DatasetOptions{
		Options: fo, Paths: paths, Shard: shard, OutDir: opts.OutDir, Fingerprint: fp,
		Progress: func(done, total int) {
			if bar != nil {
				bar.Set(done)
			}
		},
	})
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	if opts.Format == "json" {
		if err := writeJSONLine(opts.IO.Out, res); err != nil {
			return err
		}
		return nil
	}
	fmt.Fprintf(opts.IO.Out, "shard %d/%d: %d inputs (%d run, %d kept from an earlier run); manifest %s\n",
		shard.Index, shard.Count, res.Inputs, res.Computed, res.Kept, res.Manifest)
	return nil
}

// maxSide bounds --size and --short-edge.
const maxSide = 1 << 15

// preprocessingString describes the preprocessing, for the dataset
// fingerprint and the features' metadata.
func preprocessingString(p forward.Preprocess) string {
	sz := p.Image.Size
	var size string
	switch sz.Mode {
	case preprocess.ResizeSquare:
		size = fmt.Sprintf("resize=%dx%d", sz.H, sz.W)
	case preprocess.ResizeShortEdge:
		size = fmt.Sprintf("short-edge=%d", sz.N)
	default:
		size = "no-resize"
	}
	return fmt.Sprintf("pipeline=%s interp=%s %s mean=%v std=%v", p.Image.Pipeline, p.Image.Interp, size, p.Mean, p.Std)
}

func joinIntList(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
