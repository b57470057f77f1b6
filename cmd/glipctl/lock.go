package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/zoo"
)

type lockOptions struct {
	IO      *IOStreams
	Context context.Context

	Names  []string
	Output string
	Quiet  bool
	// Zoo carries --cache-dir, --offline, --mirror and --timeout; tests set
	// Zoo.Base's Registry and Downloader.
	Zoo cli.Zoo
}

const lockLong = `Write a lock file that pins zoo files to their exact bytes: for each NAME
(a zoo name; "official:NAME" for the official GLIP file) its file name, URLs,
size and sha256. Files not yet cached are downloaded first (as 'glipctl
download' does, with the same cache, mirror, offline and timeout settings);
a cached file is re-hashed (and checked against the manifest) before it is
pinned.

The lock file is JSON, entries sorted by name, so the same files give the
same bytes; it replaces any file at -o. Commit it, then pass it to download,
convert, forward and inspect with --lock FILE: a zoo name it does not list is
an error, a file whose sha256 differs from it is refused. 'glipctl verify
--lock FILE' re-hashes the cached files; 'glipctl cache key --lock FILE' is a
CI cache key for them.`

func newLockCmd(io *IOStreams, runF func(*lockOptions) error) *cobra.Command {
	opts := &lockOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "lock NAME...",
		Short: "Pin zoo files (name, URLs, size, sha256) in a lock file",
		Long:  lockLong,
		Example: `  glipctl lock swin-t_glip-pre_3rdparty official:swin-t_glip-pre_3rdparty
  glipctl lock -o ci/glipctl.lock swin-l_glip-pre_3rdparty_384px
  glipctl forward --lock glipctl.lock -m swin-t_glip-pre_3rdparty img.png`,
		Args: minArgs(1, "lock", "at least one zoo NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			opts.Context = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return lockRun(opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.Output, "output", "o", "glipctl.lock", "write the lock to this `file` (- for standard output)")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress or notes on standard error")
	opts.Zoo.AddFetchFlags(fs)
	return cmd
}

func lockRun(opts *lockOptions) error {
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	zo := opts.Zoo
	if err := zo.Validate(); err != nil {
		return usageError("%v", err)
	}
	reg := zo.Base.Registry
	if reg == nil {
		reg = zoo.Default()
	}
	for _, n := range opts.Names {
		if _, ok := reg.Lookup(strings.TrimPrefix(n, zoo.OfficialPrefix)); !ok {
			return usageError("%s: not a zoo model (zoo models: %s)", n, orList(reg.Names()))
		}
	}
	zo.Base.Verify = true // what is pinned is hashed now, not taken from the manifest
	zo.SetOutput(opts.IO.ErrOut, opts.IO.ErrTTY, opts.Quiet)
	o, err := zo.Options()
	if err != nil {
		return err
	}
	l, err := zoo.Pin(ctx, opts.Names, o)
	if err != nil {
		return err
	}
	if opts.Output == "-" {
		data, err := l.Marshal()
		if err != nil {
			return err
		}
		_, err = opts.IO.Out.Write(data)
		return err
	}
	if err := l.Write(ctx, opts.Output); err != nil {
		return fmt.Errorf("%s: %w", opts.Output, err)
	}
	if !opts.Quiet {
		for _, e := range l.Files {
			fmt.Fprintf(opts.IO.ErrOut, "locked %s: %s, %d bytes, sha256 %s\n", e.Name, e.File, e.Size, e.SHA256)
		}
		fmt.Fprintf(opts.IO.ErrOut, "wrote %s (%d files)\n", opts.Output, len(l.Files))
	}
	return nil
}
