package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/spf13/cobra"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/formats"
	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/compare"
	"github.com/glipctl/glipctl/internal/glip"
)

type diffOptions struct {
	IO         *IOStreams
	A, B       string
	Atol, Rtol float64
	StateDict  bool
	MMPretrain bool
	All        bool
	Format     string
	Zoo        cli.Zoo
	// Resolve overrides zoo.Resolve (tests).
	Resolve func(ctx context.Context, nameOrPath string) (string, error)
}

const diffLong = `Diff compares two files glipctl reads (checkpoints or features: PyTorch
.pth, safetensors, GGUF; or zoo names) tensor by tensor: the tensors of the
same name are compared elementwise in float64, whatever their dtypes, and
reported with their max abs diff, max rel diff (|a-b|/|b| over elements with
b != 0) and cosine similarity. Names only in A or only in B are listed.

An element is within tolerance when |a - b| <= atol + rtol * |b| (B is the
reference; numpy.allclose's rule; NaN never is, equal infinities are). The
command exits 3 when a tensor is out of tolerance, shapes differ, or the
names differ; --atol 0 --rtol 0 asks for equal values.

Names are compared as the files spell them ("model/module.backbone..." in an
official .pth). --state-dict compares the state dicts (the "state_dict/",
"model/" or "module/" container removed); --mmpretrain (or --canonical)
compares the backbones in the canonical mmpretrain names, whatever the
layouts (official, mmpretrain, mmdet, hf, hf-model, timm, torchvision, or a
model directory with config.json), with an RGB export's patch embedding
turned back to GLIP's BGR, so an official .pth and any converted file compare
name for name. Two files in different backbone layouts, one of them hf,
hf-model, timm or torchvision, are compared that way without the flag. A tensor that one layout has no slot for (GLIP's per-stage
norms in hf-model, timm, torchvision) is listed, but is not a difference.

Text output lists the tensors that differ, then a summary line; --all lists
every tensor; --format json writes one JSON object.`

func newDiffCmd(io *IOStreams, runF func(*diffOptions) error) *cobra.Command {
	opts := &diffOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "Compare two checkpoints or feature files tensor by tensor",
		Long:  diffLong,
		Example: `  glipctl diff feats.safetensors ref.safetensors
  glipctl diff --mmpretrain glip_tiny_model_o365_goldg_cc_sbu.pth swin-t.safetensors --atol 0 --rtol 0
  glipctl diff --format json a.gguf b.safetensors`,
		Args: exactArgs(2, "diff", "two files, A and B"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.A, opts.B = args[0], args[1]
			if err := checkFormat(opts.Format, "text", "json"); err != nil {
				return err
			}
			switch {
			case opts.Atol < 0 || opts.Rtol < 0 || math.IsNaN(opts.Atol) || math.IsNaN(opts.Rtol):
				return usageError("--atol and --rtol must be non-negative")
			}
			if runF != nil {
				return runF(opts)
			}
			return diffRun(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.Float64Var(&opts.Atol, "atol", compare.DefaultAtol, "absolute tolerance")
	f.Float64Var(&opts.Rtol, "rtol", compare.DefaultRtol, "relative tolerance (relative to B)")
	f.BoolVar(&opts.StateDict, "state-dict", false, "compare the state dicts (container prefix removed)")
	f.BoolVar(&opts.MMPretrain, "mmpretrain", false, "compare the backbones in the canonical mmpretrain names, whatever the layouts")
	f.BoolVar(&opts.MMPretrain, "canonical", false, "same as --mmpretrain")
	f.BoolVar(&opts.All, "all", false, "list every tensor, not only those that differ")
	f.StringVar(&opts.Format, "format", "text", "output format: text or json")
	opts.Zoo.AddFlags(f)
	return cmd
}

type diffReport struct {
	A       string           `json:"a"`
	B       string           `json:"b"`
	Atol    float64          `json:"atol"`
	Rtol    float64          `json:"rtol"`
	Tensors []compare.Result `json:"tensors"`
	OnlyInA []string         `json:"only_in_a"`
	OnlyInB []string         `json:"only_in_b"`
	// NoSlot are the canonical names only one side has because the other
	// side's layout has no slot for them (not a difference).
	NoSlot    []string       `json:"no_slot"`
	Layouts   [2]glip.Layout `json:"layouts"`
	Canonical bool           `json:"canonical"`
	Compared  int            `json:"compared"`
	Differ    int            `json:"differ"`
	Same      bool           `json:"same"`
}

func diffRun(ctx context.Context, opts *diffOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := opts.Zoo.Validate(); err != nil {
		return usageError("%v", err)
	}
	resolve := opts.Resolve
	if resolve == nil {
		zo := opts.Zoo
		zo.SetOutput(opts.IO.ErrOut, opts.IO.ErrTTY, false)
		resolve = func(ctx context.Context, s string) (string, error) { return zo.Resolve(ctx, s) }
	}
	open := func(arg string) (*ckpt.Checkpoint, *glip.Backbone, error) {
		p, err := resolve(ctx, arg)
		if err != nil {
			return nil, nil, err
		}
		c, err := formats.Open(p, ckpt.OpenOptions{})
		if err != nil {
			return nil, nil, err
		}
		for _, w := range c.UnsupportedWarnings() {
			opts.IO.warn(p, w)
		}
		b, err := glip.NewBackbone(c)
		if err != nil && opts.MMPretrain {
			c.Close()
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		return c, b, nil
	}
	ca, ba, err := open(opts.A)
	if err != nil {
		return err
	}
	defer ca.Close()
	cb, bb, err := open(opts.B)
	if err != nil {
		return err
	}
	defer cb.Close()
	canonical := opts.MMPretrain
	if !canonical && !opts.StateDict && ba != nil && bb != nil && backboneLayout(ba.Layout) && backboneLayout(bb.Layout) && ba.Layout != bb.Layout && (ba.Layout.Ecosystem() || bb.Layout.Ecosystem()) {
		canonical = true
		if opts.Format != "json" {
			fmt.Fprintf(opts.IO.ErrOut, "glipctl: note: %s is %s, %s is %s: comparing the backbones in canonical (mmpretrain) names\n", opts.A, ba.Layout, opts.B, bb.Layout)
		}
	}
	ta, tb := diffTensors(ca, ba, opts.StateDict, canonical), diffTensors(cb, bb, opts.StateDict, canonical)
	rep := diffReport{A: opts.A, B: opts.B, Atol: opts.Atol, Rtol: opts.Rtol, OnlyInA: []string{}, OnlyInB: []string{}, NoSlot: []string{}, Tensors: []compare.Result{}, Canonical: canonical}
	if ba != nil && bb != nil {
		rep.Layouts = [2]glip.Layout{ba.Layout, bb.Layout}
	}
	// noSlot tells whether canonical name n is absent from the side whose
	// backbone is b because b's layout has no slot for it.
	noSlot := func(b *glip.Backbone, n string) bool {
		return canonical && b != nil && !glip.HasSlot(b.Layout, n, b.Stages())
	}
	inB := map[string]*ckpt.Tensor{}
	for _, t := range tb {
		inB[t.Name] = t
	}
	inA := map[string]bool{}
	for _, t := range ta {
		if err := ctx.Err(); err != nil {
			return err
		}
		inA[t.Name] = true
		b, ok := inB[t.Name]
		if !ok {
			if noSlot(bb, t.Name) {
				rep.NoSlot = append(rep.NoSlot, t.Name)
				continue
			}
			rep.OnlyInA = append(rep.OnlyInA, t.Name)
			continue
		}
		line, err := compare.Tensors(t, b, compare.Tolerance{Atol: opts.Atol, Rtol: opts.Rtol})
		if err != nil {
			// A tensor that cannot be read is an error (exit 1), not a
			// difference.
			return err
		}
		rep.Compared++
		if !line.OK {
			rep.Differ++
		}
		rep.Tensors = append(rep.Tensors, line)
	}
	for _, t := range tb {
		if !inA[t.Name] {
			if noSlot(ba, t.Name) {
				rep.NoSlot = append(rep.NoSlot, t.Name)
				continue
			}
			rep.OnlyInB = append(rep.OnlyInB, t.Name)
		}
	}
	rep.Same = rep.Differ == 0 && len(rep.OnlyInA) == 0 && len(rep.OnlyInB) == 0
	if opts.IO.Actions != nil {
		var notes []string
		for _, n := range rep.OnlyInA {
			notes = append(notes, "only in A: "+n)
		}
		for _, n := range rep.OnlyInB {
			notes = append(notes, "only in B: "+n)
		}
		var md bytes.Buffer
		compare.WriteMarkdown(&md, fmt.Sprintf("glipctl diff %s %s", opts.A, opts.B), rep.Same, compare.Tolerance{Atol: opts.Atol, Rtol: opts.Rtol}, rep.Tensors, notes)
		opts.IO.summarize(md.Bytes())
	}
	if opts.Format == "json" {
		if err := writeJSONLine(opts.IO.Out, rep); err != nil {
			return err
		}
	} else {
		width := 8
		for _, l := range rep.Tensors {
			width = max(width, len(l.Name))
		}
		for _, l := range rep.Tensors {
			if opts.All || !l.OK {
				fmt.Fprintf(opts.IO.Out, "%s\n", l.Text(l.Name+strings.Repeat(" ", width-len(l.Name))))
			}
		}
		for _, n := range rep.OnlyInA {
			fmt.Fprintf(opts.IO.Out, "only in A: %s\n", n)
		}
		for _, n := range rep.OnlyInB {
			fmt.Fprintf(opts.IO.Out, "only in B: %s\n", n)
		}
		for _, n := range rep.NoSlot {
			fmt.Fprintf(opts.IO.Out, "no slot in the other layout: %s\n", n)
		}
		verdict := "same within tolerance"
		if !rep.Same {
			verdict = "DIFFERENT"
		}
		fmt.Fprintf(opts.IO.Out, "%d tensors compared, %d differ, %d only in A, %d only in B (|a-b| <= %g + %g*|b|): %s\n",
			rep.Compared, rep.Differ, len(rep.OnlyInA), len(rep.OnlyInB), opts.Atol, opts.Rtol, verdict)
	}
	if !rep.Same {
		return checkFailedOn(opts.A, fmt.Errorf("%s and %s differ: %d of %d tensors beyond tolerance, %d only in %s, %d only in %s",
			opts.A, opts.B, rep.Differ, rep.Compared, len(rep.OnlyInA), opts.A, len(rep.OnlyInB), opts.B))
	}
	return nil
}

// diffTensors returns the tensors of a file as diff compares them: as
// stored, the state dict (container prefix removed), or the backbone in
// canonical mmpretrain names (glip.NewBackbone; a file with no backbone
// gives its state dict).
func diffTensors(c *ckpt.Checkpoint, b *glip.Backbone, stateDict, canonical bool) []*ckpt.Tensor {
	switch {
	case canonical && b != nil && len(b.Mappings) > 0:
		return b.Tensors()
	case canonical || stateDict:
		_, sd := c.StateDict()
		return sd
	}
	return c.Tensors
}

// backboneLayout tells whether l is a layout of a backbone (not other).
func backboneLayout(l glip.Layout) bool { return l != glip.LayoutOther && l != "" }
