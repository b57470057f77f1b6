package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/zoo"
)

type downloadOptions struct {
	IO      *IOStreams
	Context context.Context

	Name     string
	Official bool
	Quiet    bool
	// Zoo carries --cache-dir/--dir, --offline, --mirror, --timeout and
	// (in Zoo.Base) --sha256; tests set Zoo.Base's Registry and Downloader.
	Zoo cli.Zoo
}

const downloadLong = `Download a model of the zoo (see 'glipctl zoo') into the cache and print
the file's path on standard output, so that path=$(glipctl download NAME) works.

NAME is a zoo name; --official (or the prefix "official:") fetches the official
GLIP checkpoint the mmpretrain one was converted from, instead.

The cache is --dir, else $GLIPCTL_CACHE, else $XDG_CACHE_HOME/glipctl, else
~/.cache/glipctl. A file already there is verified and not downloaded again; so
is a file of the same name in torch hub's cache ($TORCH_HOME/hub/checkpoints)
with the right hash. An interrupted download resumes from its .part file.

mmpretrain files are checked against the sha256 prefix in their name; the
official files have no published hash: their sha256 is printed and recorded in
the cache's manifest.json, and later uses are checked against it. --sha256 pins
the hash of any file. Nothing is left under the final name unless verified.
The verified sha256 is also recorded in the cache's digests/ (keyed by the
file's stat), so 'glipctl convert' of the file does not hash it again.

A download gives up on a URL (and tries the next mirror) when it cannot get
better: a 4xx status, a redirect loop, oversized headers, a body that is not a
PyTorch checkpoint or exceeds the file's size bound. It retries network
errors, 5xx and stalls, a few times; a stall is less than 1 KiB/s over 15 s,
silence included. --timeout bounds the whole download. A full disk or another
local error stops at once, keeping the .part; so does an interruption (Ctrl-C):
run the command again to resume. The official files, having no published
hash, resume only with a validator (If-Range) and must open as a PyTorch
checkpoint with the zoo model's backbone shapes before they are recorded; a
cached one that does not is refused.

--mirror (or $GLIPCTL_MIRROR) replaces the scheme and host of every URL, e.g.
for an air-gapped mirror of the original hosts' paths. Proxies are taken from
$HTTPS_PROXY, $HTTP_PROXY and $NO_PROXY.`

func newDownloadCmd(io *IOStreams, runF func(*downloadOptions) error) *cobra.Command {
	opts := &downloadOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "download NAME",
		Short: "Download a zoo model into the cache and print its path",
		Long:  downloadLong,
		Example: `  glipctl download swin-t_glip-pre_3rdparty
  glipctl download --official swin-l_glip-pre_3rdparty_384px
  path=$(glipctl download -q --dir ./weights swin-t_glip-pre_3rdparty)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			opts.Context = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return downloadRun(opts)
		},
	}
	fs := cmd.Flags()
	opts.Zoo.AddFlags(fs)
	fs.StringVar(&opts.Zoo.CacheDir, "dir", "", "download into `dir` (same as --cache-dir)")
	fs.BoolVar(&opts.Official, "official", false, "download the official GLIP checkpoint instead of the mmpretrain one")
	fs.StringVar(&opts.Zoo.Base.SHA256, "sha256", "", "require this sha256 (`hex`, 8 to 64 digits)")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress or notes on standard error")
	return cmd
}

func downloadRun(opts *downloadOptions) error {
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	zo := opts.Zoo
	if err := zo.Validate(); err != nil {
		return usageError("%v", err)
	}
	name, official := opts.Name, opts.Official
	if rest, ok := strings.CutPrefix(name, zoo.OfficialPrefix); ok {
		name, official = rest, true
	}
	reg := zo.Base.Registry
	if reg == nil {
		reg = zoo.Default()
	}
	e, ok := reg.Lookup(name)
	if !ok {
		return usageError("%s: not a zoo model (zoo models: %s)", opts.Name, strings.Join(reg.Names(), ", "))
	}
	zo.Base.Verify = true
	zo.SetOutput(opts.IO.ErrOut, opts.IO.ErrTTY, opts.Quiet)
	path, err := zo.Fetch(ctx, e, official)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("download %s: interrupted (run it again to resume)", opts.Name)
		}
		return err
	}
	fmt.Fprintln(opts.IO.Out, path)
	if opts.IO.Actions != nil {
		// In GitHub Actions, later steps get the file as outputs.
		sum, err := zo.Base.Digests().File(ctx, path)
		if err != nil {
			return err
		}
		for _, kv := range [][2]string{{"path", path}, {"sha256", sum.SHA256}} {
			if err := opts.IO.Actions.SetOutput(kv[0], kv[1]); err != nil {
				return fmt.Errorf("GITHUB_OUTPUT: %w", err)
			}
		}
	}
	return nil
}
