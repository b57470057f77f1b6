package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/zoo"
)

type verifyOptions struct {
	IO      *IOStreams
	Context context.Context

	Targets []string
	Format  string
	// Zoo carries --cache-dir and --lock; tests set Zoo.Base.Registry.
	Zoo cli.Zoo
}

const verifyLong = `Re-hash files of the cache and compare each with its expected sha256,
reading every byte (whatever the manifest and the digest cache remember).

The expected sha256 is the lock file's (--lock), else the one recorded in the
cache's manifest.json when the file was downloaded, else the zoo registry's
prefix. NAME is a zoo name ("official:NAME" for the official GLIP file): its
cached file is verified, nothing is downloaded. FILE is any file. With no
argument, every file of the lock (with --lock) or of the manifest.

Each file is reported as ok, mismatch (both hashes named), missing or
unpinned (nothing to compare with). Exit 3 when a file's sha256 differs,
1 when a file is missing, 0 otherwise.`

func newVerifyCmd(io *IOStreams, runF func(*verifyOptions) error) *cobra.Command {
	opts := &verifyOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "verify [NAME|FILE...]",
		Short: "Re-hash cached files against the lock file or the manifest",
		Long:  verifyLong,
		Example: `  glipctl verify --lock glipctl.lock
  glipctl verify swin-t_glip-pre_3rdparty
  glipctl verify --format json | jq 'select(.status != "ok")'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Targets = args
			opts.Context = cmd.Context()
			if err := checkFormat(opts.Format, "text", "json"); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return verifyRun(opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.Format, "format", "text", "output format: `text` or json (one object per file and line)")
	fs.StringVar(&opts.Zoo.CacheDir, "cache-dir", "", "cache `dir` (default $GLIPCTL_CACHE, else $XDG_CACHE_HOME/glipctl or ~/.cache/glipctl)")
	opts.Zoo.AddLockFlag(fs)
	return cmd
}

func verifyRun(opts *verifyOptions) error {
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	o, err := opts.Zoo.Options()
	if err != nil {
		return err
	}
	results, err := zoo.Verify(ctx, opts.Targets, o)
	if err != nil {
		return err
	}
	if opts.Format == "json" {
		for _, v := range results {
			if err := writeJSONLine(opts.IO.Out, v); err != nil {
				return err
			}
		}
	} else {
		tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
		for _, v := range results {
			name := v.Name
			if name == "" {
				name = "-"
			}
			switch v.Status {
			case zoo.StatusOK:
				fmt.Fprintf(tw, "ok\t%s\t%s\tsha256 %s (%s)\n", name, v.Path, v.SHA256, v.ExpectedFrom)
			case zoo.StatusMismatch:
				fmt.Fprintf(tw, "MISMATCH\t%s\t%s\texpected %s (%s), got %s\n", name, v.Path, v.Expected, v.ExpectedFrom, v.SHA256)
			case zoo.StatusMissing:
				fmt.Fprintf(tw, "missing\t%s\t%s\t%s\n", name, v.Path, v.Problem)
			case zoo.StatusUnpinned:
				fmt.Fprintf(tw, "unpinned\t%s\t%s\tsha256 %s (nothing to compare with)\n", name, v.Path, v.SHA256)
			}
		}
		tw.Flush()
	}
	if opts.IO.Actions != nil {
		opts.IO.summarize(verifyMarkdown(results))
	}
	err = zoo.VerifyError(results)
	var vf *zoo.VerifyFailedError
	if errors.As(err, &vf) && vf.Mismatch {
		return checkFailed(err)
	}
	return err
}

// verifyMarkdown is the job summary of a verify: one row per file.
func verifyMarkdown(results []zoo.Verified) []byte {
	var b strings.Builder
	b.WriteString("### glipctl verify\n\n| status | name | file | sha256 | expected |\n|---|---|---|---|---|\n")
	for _, v := range results {
		fmt.Fprintf(&b, "| %s | %s | `%s` | `%s` | `%s` %s |\n", v.Status, v.Name, v.Path, v.SHA256, v.Expected, v.ExpectedFrom)
	}
	b.WriteString("\n")
	return []byte(b.String())
}
