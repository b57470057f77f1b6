package main

import (
	"context"
	"fmt"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/remote"
	"github.com/glipctl/glipctl/internal/report"
	"github.com/glipctl/glipctl/internal/swin"
	"github.com/glipctl/glipctl/internal/zoo"
)

type inspectOptions struct {
	IO     *IOStreams
	Files  []string
	Stats  bool
	Filter string
	Format string
	Strict bool
	// Zoo carries --offline, --cache-dir and --mirror for FILE arguments
	// that are zoo names.
	Zoo cli.Zoo
	// Resolve overrides zoo.Resolve (tests).
	Resolve func(ctx context.Context, nameOrPath string) (string, error)
	// Download makes a URL whose server ignores Range requests a download
	// into the cache instead of an error.
	Download bool
	// Remote says how URLs are read (tests set small timeouts).
	Remote remote.Options
}

func newInspectCmd(io *IOStreams, runF func(*inspectOptions) error) *cobra.Command {
	opts := &inspectOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "inspect FILE...",
		Short: "List a checkpoint's tensors, layout and architecture",
		Long: `Inspect lists each tensor of a checkpoint (name, dtype, shape, element count,
bytes), the layout of its names (official GLIP, mmpretrain, other), and for a
Swin backbone the architecture read off the shapes (embed dim, depths, heads,
window; named Swin-T or Swin-L when it matches a zoo model) with the keys the
backbone is missing or has in excess.

FILE is a PyTorch checkpoint (zip or legacy format: .pth, .pt, .bin),
safetensors, GGUF or ONNX (its initializers, opset, inputs and outputs), or a zoo name (see 'glipctl zoo'; "official:NAME" for the
official GLIP file), downloaded on first use, or an http(s) URL: its header
is read with HTTP Range requests (for a PyTorch zip, the central directory,
the entries' headers and data.pkl), never the weights; --stats fetches only
the tensors it reports; --timeout bounds the whole read. A server that
ignores Range is an error, or with --download a download into the cache. Nothing in a file is executed: pickle globals outside a
small allowlist are refused (a warning, or an error with --strict).

With --stats, each tensor's min, max, mean, std (unbiased), abs-max, and count
of zeros, NaN and Inf; min/max/mean/std are over the finite values. Tensors are
read in chunks on all cores; memory stays small whatever the file size.

--format json writes one JSON object per file, one per line, with a stable
schema (see README.md): a top-level "tensors" array whose items carry name,
dtype, shape, numel, bytes and, with --stats, a "stats" object (min, max, mean,
std, absmax, zeros, nan, inf; null where undefined).`,
		Example: `  glipctl inspect testdata/official_small.pth
  glipctl inspect --stats --filter 'downsample' model.pth
  glipctl inspect swin-t_glip-pre_3rdparty
  glipctl inspect --format json --stats model.safetensors | jq '.tensors[0]'`,
		Args: minArgs(1, "inspect", "at least one FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if err := checkFormat(opts.Format, "text", "json", "markdown", "md"); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return inspectRun(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Stats, "stats", false, "compute min, max, mean, std, abs-max and zero/NaN/Inf counts")
	f.StringVar(&opts.Filter, "filter", "", "only tensors whose name matches this regular expression (RE2 syntax)")
	f.StringVar(&opts.Format, "format", "text", "output format: text, json or markdown")
	f.BoolVar(&opts.Strict, "strict", false, "fail on a refused pickle global instead of warning")
	f.BoolVar(&opts.Download, "download", false, "for a URL whose server does not answer Range requests, download the file into the cache and inspect it there")
	opts.Zoo.AddFlags(f)
	return cmd
}

func inspectRun(ctx context.Context, opts *inspectOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := opts.Zoo.Validate(); err != nil {
		return usageError("%v", err)
	}
	if opts.Resolve == nil {
		zo := opts.Zoo
		zo.SetOutput(opts.IO.ErrOut, opts.IO.ErrTTY, false)
		opts.Resolve = func(ctx context.Context, s string) (string, error) { return zo.Resolve(ctx, s) }
	}
	var re *regexp.Regexp
	if opts.Filter != "" {
		var err error
		if re, err = regexp.Compile(opts.Filter); err != nil {
			return usageError("--filter: %v", err)
		}
	}
	var failed []error
	for i, name := range opts.Files {
		if err := inspectOne(ctx, opts, name, re, i); err != nil {
			if len(opts.Files) == 1 {
				return err
			}
			fmt.Fprintf(opts.IO.ErrOut, "glipctl: %s\n", oneLine(err.Error()))
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		return &exitErr{code: exitError, err: fmt.Errorf("%d of %d files failed", len(failed), len(opts.Files))}
	}
	return nil
}

func inspectOne(ctx context.Context, opts *inspectOptions, name string, re *regexp.Regexp, i int) error {
	c, err := inspectOpen(ctx, opts, name)
	if err != nil {
		return err
	}
	defer c.Close()
	in, err := report.Inspect(ctx, c, report.InspectOptions{Stats: opts.Stats, Filter: re, NameArch: zooName})
	if err != nil {
		return err
	}
	for _, w := range in.Warnings {
		opts.IO.warn(c.Path, w)
	}
	out := opts.IO.Out
	switch opts.Format {
	case "json":
		return in.WriteJSON(out)
	case "markdown", "md":
		if i > 0 {
			fmt.Fprintln(out)
		}
		return in.WriteMarkdown(out)
	default:
		if i > 0 {
			fmt.Fprintln(out)
		}
		return in.WriteText(out)
	}
}

// zooName names an architecture after the zoo model it matches ("Swin-T").
func zooName(a swin.Arch) string {
	if e, ok := zoo.Match(a); ok {
		return e.Display
	}
	return ""
}
