package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/glipctl/glipctl/internal/atomicfile"
	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/convert"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/swin"
)

type convertOptions struct {
	IO      *IOStreams
	Context context.Context

	Src    string
	Dst    string
	To     string
	From   string
	Layout string
	DType  string
	// InputOrder is the output's channel order (rgb, bgr; "" the layout's
	// default); FromInputOrder the source's where its metadata is silent.
	InputOrder     string
	FromInputOrder string
	Force          bool
	Report         string
	Strict         bool
	Quiet          bool
	// Rehash reads and hashes SRC even if the digest cache has its sum.
	Rehash bool
	// NoSync skips the fsync of the outputs before their rename.
	NoSync bool
	// Zoo carries --offline, --cache-dir and --mirror; a SRC that is not a
	// file is resolved as a zoo name.
	Zoo cli.Zoo
	// ONNX output: the input size ("384" or "HxW"), the output stages
	// ("1,2,3"), the semantics and the opset; "" or 0 for the defaults.
	Size       string
	OutIndices string
	Semantics  string
	Opset      int
	// Resolve overrides zoo.Resolve (tests).
	Resolve func(ctx context.Context, nameOrPath string) (string, error)
}

const convertLong = `Convert a GLIP Swin backbone checkpoint to the mmpretrain naming (or back,
or to another library's layout) and write it as PyTorch .pth, safetensors or
GGUF, with a report.

SRC is a checkpoint file (PyTorch zip or legacy, safetensors, GGUF), a model
directory (config.json beside model.safetensors) or a zoo name (see 'glipctl
zoo'; "official:NAME" for the official GLIP file). Its layout is detected
(--from to insist):
  official     the GLIP repo's checkpoint: {"model": {"module.backbone.body.*": ...}},
               plus the language backbone, FPN, RPN and optimizer state
  mmpretrain   keys "backbone.*" (mmpretrain's converted weights)
  mmdet        mmdetection's GLIP detector (backbone.*, neck.*, language_model.*, bbox_head.*)
  hf, hf-model transformers' SwinBackbone, SwinModel ("swin.")
  timm         timm's SwinTransformer
  torchvision  torchvision's SwinTransformer (features.*)

--layout picks the output layout:
  mmpretrain (default), official
  mmdet        the whole detector as mmdetection's glip_to_mmdet.py writes it
               (a .pth byte-identical to torch.save of its output); from a
               backbone-only source, the backbone part
  hf, hf-model a directory DST that transformers loads with
               SwinBackbone/AutoBackbone (hf) or SwinModel (hf-model)
               .from_pretrained(DST): config.json, model.safetensors (qkv
               split into query/key/value), preprocessor_config.json
  timm         a directory DST: model.safetensors and timm's config.json, for
               timm.create_model(NAME, pretrained=True,
               pretrained_cfg_overlay=dict(file=DST/model.safetensors), num_classes=0)
  torchvision  a .pth or .safetensors for SwinTransformer.load_state_dict
               (all keys but head.*)
For hf, hf-model, timm and torchvision the patch embedding's input channels
are reversed by default, so the model takes the library's own RGB input in
[0, 1] normalised with ImageNet's mean and std (GLIP's BGR mean and std /
255, reversed) and gives GLIP's features; --input-order bgr keeps GLIP's.
The report, the safetensors metadata and config.json say which
(input_order), and which window-shift rule the library runs (window_rule);
a warning says where that rule differs from GLIP's. A file read back is
turned back to BGR when its metadata says rgb (--from-input-order for a
torchvision .pth, which has none). What a layout has no slot for (GLIP's
per-stage norms but the last in hf-model, timm and torchvision) is dropped
and named in the report. docs/ecosystems.md describes each library's rules.

An official checkpoint is converted exactly as mmpretrain's
tools/model_converters/glip_to_mmpretrain.py does it: the same kept keys
(the Swin backbone), names, order, and reorder of the patch-merging
tensors; dtypes and values untouched. An mmpretrain checkpoint's backbone
passes through. --layout official writes the inverse (GLIP names, the
inverse reorder, {"model": ...} in a .pth), so official -> mmpretrain ->
official is bit-exact. Tensors that are dropped are never read.

The output format comes from DST's extension (.pth, .pt, .safetensors, .gguf,
.onnx) or --to. A .pth is what torch.save(OrderedDict) writes (torch 1.13's zip
format, byte for byte). safetensors metadata and GGUF key/values record the
source file and its sha256, the layout, the architecture, image size and
preprocessing (mean, std, BGR), and the glipctl version. GGUF tensor names
use the short-v1 scheme (names over 63 bytes).

An .onnx output (or --to onnx) is the Swin backbone's forward pass as an
ONNX graph (IR version 8) that ONNX Runtime, OpenVINO and TensorRT run: input
"pixel_values", float32 (N, 3, H, W), normalised as 'glipctl forward'
normalises (the channel order, mean and std are in the model's
metadata_props); outputs "stage1", "stage2", "stage3" (--out-indices),
float32 (N, C, H', W'). N is free; H and W are fixed by --size (N or HxW,
default the zoo model's image size), since the window partition, padding
and masks depend on them. --semantics (mmpretrain, the default, or glip)
picks the shift and padding rule as 'glipctl forward' does; mmpretrain
refuses a --size whose last feature map is smaller than the window.
--opset 17 (default) uses LayerNormalization, 13 to 16 its decomposition.
--dtype f16 stores the weights in f16, cast to f32 where they are used; the
default is f32. metadata_props record the source file and sha256, the
layout, architecture, semantics, input size, mean, std, channel order and
the glipctl version.

--dtype converts the float tensors (keep, f32, f16, bf16; q8_0 for GGUF:
2-D weights whose rows are multiples of 32, the other floats f32), rounding
to nearest even as torch's .half() and .bfloat16() do. Integer buffers keep
their type.

Reports: DST.report.json and DST.report.md (--report BASE for BASE.json and
BASE.md): source and output sha256, the detected layout, every kept tensor's
old and new name and transform, the dropped tensors by prefix, each output
tensor's shape, dtype and statistics, and for a dtype change the
per-tensor error (max abs, relative RMS), worst first.

SRC's sha256 is remembered in the cache directory's digests/ (keyed by the
file's device, inode, size, mtime and ctime, like git's index) and not
recomputed while the file is unchanged; 'glipctl download' records the files
it verifies. The JSON report's source.sha256_source says "computed" or
"cache"; --rehash always reads SRC (and refreshes the entry).

DST and its reports are written to temporary files beside them (on Linux
unnamed ones, so that even a killed glipctl leaves nothing), synced to the
disk and renamed into place together: on any error or interruption none of
them is placed, the files that were there stay as they were, and nothing is
left behind. An existing DST or report is an error unless --force; a
directory in its place always is. The same input and flags give
byte-identical files. --no-sync skips the sync (about 0.15 s for a 110 MB output on a
typical cloud disk): an error or an interruption still leaves nothing, but
after a power loss or a kernel crash DST may exist and be empty, and write
errors that a file system reports only on sync go unnoticed; for scratch
disks and throw-away CI machines.`

func newConvertCmd(io *IOStreams, runF func(*convertOptions) error) *cobra.Command {
	opts := &convertOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "convert SRC -o DST",
		Short: "Convert a GLIP checkpoint to mmpretrain, official, mmdet, HF, timm or torchvision names",
		Long:  convertLong,
		Example: `  glipctl convert glip_tiny_model_o365_goldg_cc_sbu.pth -o swin-t.pth
  glipctl convert official:swin-t_glip-pre_3rdparty -o swin-t.safetensors --dtype f16
  glipctl convert swin-t.pth -o swin-t-q8.gguf --dtype q8_0
  glipctl convert swin-t.pth --layout official -o glip-backbone.pth
  glipctl convert glip_tiny_model_o365_goldg_cc_sbu.pth --layout hf -o swin-t-hf/
  glipctl convert glip_tiny_model_o365_goldg_cc_sbu.pth --layout mmdet -o glip_tiny_mmdet.pth
  glipctl convert swin-t-hf/ --layout official -o glip-backbone.pth
  glipctl convert swin-l.pth -o swin-l.onnx --size 384 --dtype f16
  glipctl convert swin-t.pth -o swin-t-glip.onnx --semantics glip --size 480x640 --opset 13
  jq '.conversion_error.max_rel_rms_error' swin-t.safetensors.report.json`,
		Args: exactArgs(1, "convert", "one SRC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Src = args[0]
			opts.Context = cmd.Context()
			if opts.Dst == "" {
				return usageError("convert needs an output: -o DST")
			}
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return convertRun(opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.Dst, "output", "o", "", "write the converted checkpoint to `DST`")
	fs.StringVar(&opts.To, "to", "", "output `format`: pth, safetensors, gguf or onnx (default: from DST's extension)")
	fs.StringVar(&opts.From, "from", "auto", "source `layout`: official, mmpretrain, mmdet, hf, hf-model, timm, torchvision or auto")
	fs.StringVar(&opts.Layout, "layout", "mmpretrain", "output `layout`: mmpretrain, official, mmdet, hf, hf-model, timm or torchvision")
	fs.StringVar(&opts.InputOrder, "input-order", "", "input channel `order` of the output: rgb (default for hf, hf-model, timm, torchvision) or bgr (GLIP's)")
	fs.StringVar(&opts.FromInputOrder, "from-input-order", "", "input channel `order` of the source when its metadata does not say (a torchvision .pth): rgb or bgr")
	fs.StringVar(&opts.DType, "dtype", "keep", "float `dtype` of the output: keep, f32, f16, bf16, or q8_0 (GGUF)")
	fs.BoolVarP(&opts.Force, "force", "f", false, "replace an existing DST and reports")
	fs.StringVar(&opts.Report, "report", "", "write the reports to `BASE`.json and BASE.md (default DST.report.json and .md)")
	fs.BoolVar(&opts.Strict, "strict", false, "fail on a refused pickle global instead of warning")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress, notes or summary on standard error")
	fs.BoolVar(&opts.Rehash, "rehash", false, "hash SRC even if the digest cache has its sha256 (and refresh the entry)")
	fs.BoolVar(&opts.NoSync, "no-sync", false, "do not fsync DST and the reports before renaming them (faster; not crash-safe)")
	fs.StringVar(&opts.Size, "size", "", "ONNX: input `size`, N or HxW (default: the zoo model's image size)")
	fs.StringVar(&opts.OutIndices, "out-indices", "", "ONNX: output `stages`, comma-separated (default 1,2,3)")
	fs.StringVar(&opts.Semantics, "semantics", "", "ONNX: backbone `semantics`, mmpretrain (default) or glip")
	fs.IntVar(&opts.Opset, "opset", 0, "ONNX: opset `version`, 13..17 (default 17)")
	opts.Zoo.AddFlags(fs)
	return cmd
}

// graph parses the ONNX flags; given for another format they are a usage
// error.
func (opts *convertOptions) graph(f convert.Format) (convert.GraphOptions, error) {
	var g convert.GraphOptions
	if f != convert.FormatONNX {
		for _, c := range []struct {
			name string
			set  bool
		}{{"--size", opts.Size != ""}, {"--out-indices", opts.OutIndices != ""}, {"--semantics", opts.Semantics != ""}, {"--opset", opts.Opset != 0}} {
			if c.set {
				return g, usageError("%s is only for ONNX output (.onnx or --to onnx)", c.name)
			}
		}
		return g, nil
	}
	if opts.Size != "" {
		hs, ws, sq := strings.Cut(strings.ToLower(opts.Size), "x")
		if !sq {
			ws = hs
		}
		h, err1 := strconv.Atoi(hs)
		w, err2 := strconv.Atoi(ws)
		if err1 != nil || err2 != nil || h <= 0 || w <= 0 || h > 1<<15 || w > 1<<15 {
			return g, usageError("--size %q: want N or HxW, positive (at most 32768)", opts.Size)
		}
		g.Height, g.Width = h, w
	}
	if opts.OutIndices != "" {
		for _, s := range strings.Split(opts.OutIndices, ",") {
			k, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || k < 0 {
				return g, usageError("--out-indices %q: want stage numbers like 1,2,3", opts.OutIndices)
			}
			g.OutIndices = append(g.OutIndices, k)
		}
	}
	if opts.Semantics != "" {
		sem, err := swin.ParseSemantics(opts.Semantics)
		if err != nil {
			return g, usageError("--semantics: %v", err)
		}
		g.Semantics = sem
	}
	g.Opset = opts.Opset
	return g, nil
}

// check turns the flag values into usage errors.
func (opts *convertOptions) check() error {
	f, err := opts.format()
	if err != nil {
		return err
	}
	mode, err := convert.ParseDTypeMode(opts.DType)
	if err != nil {
		return optionUsage(err)
	}
	in, from, err := opts.orders()
	if err != nil {
		return err
	}
	g, err := opts.graph(f)
	if err != nil {
		return err
	}
	o := convert.Options{Format: f, DType: mode, Layout: glip.Layout(strings.ToLower(opts.Layout)), From: glip.Layout(strings.ToLower(opts.From)),
		InputOrder: in, SourceInputOrder: from, Graph: g}
	if err := o.Check(); err != nil {
		return optionUsage(err)
	}
	if err := opts.Zoo.Validate(); err != nil {
		return usageError("%v", err)
	}
	return nil
}

// orders parses --input-order and --from-input-order.
func (opts *convertOptions) orders() (in, from glip.InputOrder, err error) {
	if opts.InputOrder != "" {
		if in, err = glip.ParseInputOrder(opts.InputOrder); err != nil {
			return "", "", usageError("--input-order: %v", err)
		}
	}
	if opts.FromInputOrder != "" {
		if from, err = glip.ParseInputOrder(opts.FromInputOrder); err != nil {
			return "", "", usageError("--from-input-order: %v", err)
		}
	}
	return in, from, nil
}

// format is --to, or DST's extension; they must agree when both are given.
// The hf, hf-model and timm layouts are directories of safetensors.
func (opts *convertOptions) format() (convert.Format, error) {
	if convert.DirLayout(glip.Layout(strings.ToLower(opts.Layout))) {
		if opts.To != "" {
			if f, err := convert.ParseFormat(opts.To); err != nil || f != convert.FormatSafetensors {
				return "", usageError("the %s layout is a directory of safetensors; --to %s does not apply", opts.Layout, opts.To)
			}
		}
		return convert.FormatSafetensors, nil
	}
	ext, extOK := convert.FormatFromPath(opts.Dst)
	if opts.To == "" {
		if !extOK {
			return "", usageError("cannot tell the output format of %q: use a .pth, .safetensors, .gguf or .onnx name, or --to", opts.Dst)
		}
		return ext, nil
	}
	f, err := convert.ParseFormat(opts.To)
	if err != nil {
		return "", usageError("%v", err)
	}
	if extOK && ext != f {
		return "", usageError("--to %s contradicts the extension of %q (%s)", f, opts.Dst, ext)
	}
	return f, nil
}

func convertRun(opts *convertOptions) error {
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	f, err := opts.format()
	if err != nil {
		return err
	}
	mode, err := convert.ParseDTypeMode(opts.DType)
	if err != nil {
		return optionUsage(err)
	}
	inOrder, fromOrder, err := opts.orders()
	if err != nil {
		return err
	}
	g, err := opts.graph(f)
	if err != nil {
		return err
	}
	from := glip.Layout(strings.ToLower(opts.From))
	if from == "auto" {
		from = ""
	}
	src := opts.Src
	resolve := opts.Resolve
	if resolve == nil {
		zo := opts.Zoo
		zo.SetOutput(opts.IO.ErrOut, opts.IO.ErrTTY, opts.Quiet)
		resolve = func(ctx context.Context, s string) (string, error) { return zo.Resolve(ctx, s) }
	}
	if src, err = resolve(ctx, src); err != nil {
		return err
	}

	fo := convert.FileOptions{
		Options: convert.Options{
			Format: f, From: from, Layout: glip.Layout(strings.ToLower(opts.Layout)), DType: mode, Version: version,
			InputOrder: inOrder, SourceInputOrder: fromOrder, Graph: g,
		},
		Force:      opts.Force,
		ReportBase: opts.Report,
		Open:       ckpt.OpenOptions{Strict: opts.Strict},
		Digests:    opts.Zoo.Digests(),
		Rehash:     opts.Rehash,
		NoSync:     opts.NoSync,
	}
	var bar *progressbar.ProgressBar
	if opts.IO.ErrTTY && !opts.Quiet {
		fo.Progress = func(written, total int64) {
			if bar == nil {
				if total < progressMinBytes {
					return
				}
				bar = progressbar.NewOptions64(total,
					progressbar.OptionSetWriter(opts.IO.ErrOut),
					progressbar.OptionSetDescription("converting"),
					progressbar.OptionShowBytes(true),
					progressbar.OptionThrottle(progressThrottle),
					progressbar.OptionClearOnFinish(),
				)
			}
			bar.ChangeMax64(total)
			_ = bar.Set64(written)
		}
	}
	rep, err := convert.ConvertFile(ctx, src, opts.Dst, fo)
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: interrupted; nothing written", opts.Dst)
		}
		return convertError(err)
	}
	if !opts.Quiet {
		for _, w := range rep.Warnings {
			opts.IO.warn(src, w)
		}
		if e := rep.Ecosystem; e != nil {
			for _, n := range e.Notes {
				fmt.Fprintf(opts.IO.ErrOut, "glipctl: note: %s: %s\n", opts.Dst, n)
			}
		}
	}
	jsonPath, mdPath := convert.ReportPaths(opts.Dst, opts.Report)
	summary := fmt.Sprintf("%s: %d tensors (%s -> %s, %s), %d dropped; reports %s, %s",
		opts.Dst, rep.Totals.Kept, rep.Layout.From, rep.Layout.Output, rep.Output.DType, rep.Totals.Dropped, jsonPath, mdPath)
	if e := rep.ConversionError; e != nil {
		summary += fmt.Sprintf("; max rel RMS error %g", float64(e.MaxRelRMS))
	}
	fmt.Fprintln(opts.IO.Out, summary)
	if opts.IO.Actions != nil {
		var md bytes.Buffer
		if err := rep.WriteMarkdown(&md); err == nil {
			opts.IO.summarize(md.Bytes())
		}
	}
	return nil
}

// Progress bar tuning: shown only for outputs of this size or more.
const (
	progressMinBytes = 64 << 20
	progressThrottle = 100 * time.Millisecond
)

// optionUsage turns a conversion option's error into a usage error naming
// the flag ("--dtype: unknown dtype ...").
func optionUsage(err error) *exitErr {
	var oe *convert.OptionError
	if errors.As(err, &oe) {
		flag := oe.Option
		if flag == "format" {
			flag = "to"
		}
		return &exitErr{code: exitUsage, err: fmt.Errorf("--%s: %v", flag, oe.Err)}
	}
	return &exitErr{code: exitUsage, err: err}
}

// convertError adds to an error of a conversion the flag that helps:
// --force for an output that exists, the flag of an option that cannot be
// used.
func convertError(err error) error {
	var oe *convert.OptionError
	var ae *atomicfile.Error
	switch {
	case errors.As(err, &oe):
		return optionUsage(err).err // found in the file: exit 1, not 2
	case errors.As(err, &ae) && errors.Is(err, atomicfile.ErrExist):
		return fmt.Errorf("%s already exists (use --force to replace it)", ae.Path)
	}
	return err
}
