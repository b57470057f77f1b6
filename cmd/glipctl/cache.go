package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/zoo"
)

type cacheOptions struct {
	IO      *IOStreams
	Context context.Context

	// Action is "ls", "prune", "key" or "path".
	Action string
	Format string
	// Prune's options.
	DryRun    bool
	DigestAge time.Duration
	// Zoo carries --cache-dir and (for key) --lock; tests set
	// Zoo.Base.Registry.
	Zoo cli.Zoo
}

const cacheLong = `Manage the download cache: --cache-dir, else $GLIPCTL_CACHE, else
$XDG_CACHE_HOME/glipctl, else ~/.cache/glipctl.

  ls     every file: zoo files, files of URLs (urls/), partial downloads (.part,
         with "in use" while a download runs), lock files, with sizes and the
         sha256 the manifest records (shown while the file's size and mtime
         are those recorded; 'glipctl verify' re-hashes)
  prune  remove what is stale: partial downloads and lock files of downloads
         not running (a running one is left alone), temporary files of
         interrupted writes, manifest entries of files that are gone, digest
         entries that are damaged or describe a changed file (and with
         --digest-age, old ones); --dry-run lists them only
  key    a cache key for CI (actions/cache): a hash of the lock file's entries
         (name, file, size, sha256) and of the cache format's version
  path   the cache directory`

func newCacheCmd(io *IOStreams, runF func(*cacheOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache ls|prune|key|path",
		Short: "List, prune and key the download cache",
		Long:  cacheLong,
		Example: `  glipctl cache ls
  glipctl cache prune --dry-run
  key=$(glipctl cache key --lock glipctl.lock)
  du -sh "$(glipctl cache path)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError("cache needs a subcommand: ls, prune, key or path")
		},
	}
	sub := func(name, short string, args cobra.PositionalArgs, flags func(*cobra.Command, *cacheOptions)) {
		opts := &cacheOptions{IO: io, Action: name}
		c := &cobra.Command{
			Use:   name,
			Short: short,
			Args:  args,
			RunE: func(c *cobra.Command, _ []string) error {
				opts.Context = c.Context()
				if err := checkFormat(opts.Format, "text", "json"); err != nil {
					return err
				}
				if runF != nil {
					return runF(opts)
				}
				return cacheRun(opts)
			},
		}
		fs := c.Flags()
		fs.StringVar(&opts.Zoo.CacheDir, "cache-dir", "", "cache `dir` (default $GLIPCTL_CACHE, else $XDG_CACHE_HOME/glipctl or ~/.cache/glipctl)")
		fs.StringVar(&opts.Format, "format", "text", "output format: `text` or json")
		if flags != nil {
			flags(c, opts)
		}
		cmd.AddCommand(c)
	}
	sub("ls", "List the cached files with sizes and hashes", cobra.NoArgs, nil)
	sub("prune", "Remove stale partial downloads, locks and digest entries", cobra.NoArgs, func(c *cobra.Command, o *cacheOptions) {
		c.Flags().BoolVar(&o.DryRun, "dry-run", false, "list what would be removed, remove nothing")
		c.Flags().DurationVar(&o.DigestAge, "digest-age", 0, "also remove digest entries older than this `duration` (e.g. 720h; 0 keeps them)")
	})
	sub("key", "Print a CI cache key of the lock file's files", cobra.NoArgs, func(c *cobra.Command, o *cacheOptions) {
		o.Zoo.AddLockFlag(c.Flags())
		c.Flags().Lookup("lock").DefValue = "glipctl.lock"
		o.Zoo.LockPath = "glipctl.lock"
	})
	sub("path", "Print the cache directory", cobra.NoArgs, nil)
	return cmd
}

func cacheRun(opts *cacheOptions) error {
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	dir, err := cli.CacheDir(opts.Zoo.CacheDir, opts.Zoo.Getenv)
	if err != nil {
		return err
	}
	out := opts.IO.Out
	asJSON := opts.Format == "json"
	switch opts.Action {
	case "path":
		if asJSON {
			return writeJSONLine(out, map[string]string{"path": dir})
		}
		fmt.Fprintln(out, dir)
	case "key":
		if opts.Zoo.LockPath == "" {
			return usageError("cache key needs --lock FILE")
		}
		l, err := zoo.ReadLock(opts.Zoo.LockPath)
		if err != nil {
			return err
		}
		key := l.CacheKey()
		if asJSON {
			return writeJSONLine(out, map[string]any{"key": key, "lock": opts.Zoo.LockPath, "files": len(l.Files), "cache_format": zoo.CacheFormatVersion})
		}
		fmt.Fprintln(out, key)
	case "ls":
		files, err := zoo.ListCache(dir, opts.Zoo.Base.Registry)
		if err != nil {
			return err
		}
		if asJSON {
			if files == nil {
				files = []zoo.CacheFile{}
			}
			return writeJSONLine(out, map[string]any{"dir": dir, "files": files})
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tKIND\tSIZE\tSHA256\tMODEL")
		var total int64
		for _, f := range files {
			total += f.Size
			kind := string(f.Kind)
			if f.InUse {
				kind += " (in use)"
			}
			sum := f.SHA256
			if sum == "" {
				sum = "-"
			}
			model := f.Model
			if model == "" {
				model = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.Path, kind, f.Size, sum, model)
		}
		tw.Flush()
		fmt.Fprintf(out, "%d files, %d bytes in %s\n", len(files), total, dir)
	case "prune":
		pruned, err := zoo.PruneCache(ctx, dir, zoo.PruneOptions{DigestAge: opts.DigestAge, DryRun: opts.DryRun})
		if err != nil {
			return err
		}
		if asJSON {
			if pruned == nil {
				pruned = []zoo.Pruned{}
			}
			return writeJSONLine(out, map[string]any{"dir": dir, "dry_run": opts.DryRun, "removed": pruned})
		}
		var freed int64
		verb := "removed"
		if opts.DryRun {
			verb = "would remove"
		}
		for _, p := range pruned {
			freed += p.Size
			fmt.Fprintf(out, "%s %s (%s)\n", verb, p.Path, p.Reason)
		}
		fmt.Fprintf(out, "%s %d items, %d bytes, in %s\n", verb, len(pruned), freed, dir)
	}
	return nil
}
