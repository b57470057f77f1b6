package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/swin"
	"github.com/glipctl/glipctl/internal/zoo"
)

type zooOptions struct {
	IO *IOStreams

	Format string
	// Zoo carries --cache-dir/--dir; tests set Zoo.Base.Registry.
	Zoo cli.Zoo
}

func newZooCmd(io *IOStreams, runF func(*zooOptions) error) *cobra.Command {
	opts := &zooOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "zoo",
		Short: "List the models of the zoo and which are cached",
		Long: `List the GLIP backbones of the mmpretrain model zoo: name, architecture,
input size, and whether their files (the mmpretrain checkpoint, the official
GLIP one) are in the cache. 'glipctl download NAME' fetches one; every command
that reads a checkpoint also accepts a zoo name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return zooRun(opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.Format, "format", "text", "output format: `text` or json")
	fs.StringVar(&opts.Zoo.CacheDir, "cache-dir", "", "cache `dir` (default $GLIPCTL_CACHE, else $XDG_CACHE_HOME/glipctl or ~/.cache/glipctl)")
	fs.StringVar(&opts.Zoo.CacheDir, "dir", "", "same as --cache-dir")
	return cmd
}

// zooFileJSON is a file of a zoo entry in `glipctl zoo --format json`.
type zooFileJSON struct {
	zoo.File
	Cached bool   `json:"cached"`
	Path   string `json:"path,omitempty"`
	// RecordedSHA256 is the hash the cache's manifest records for it.
	RecordedSHA256 string `json:"recorded_sha256,omitempty"`
}

type zooEntryJSON struct {
	Name       string         `json:"name"`
	Display    string         `json:"display"`
	Arch       swin.Arch      `json:"arch"`
	ImgSize    int            `json:"img_size"`
	OutIndices []int          `json:"out_indices"`
	Preprocess zoo.Preprocess `json:"preprocess"`
	Weights    zooFileJSON    `json:"weights"`
	Official   *zooFileJSON   `json:"official,omitempty"`
}

func zooRun(opts *zooOptions) error {
	zo, err := opts.Zoo.Options()
	if err != nil {
		return err
	}
	reg := zo.Registry
	if reg == nil {
		reg = zoo.Default()
	}
	dir := zo.CacheDir
	fileInfo := func(e zoo.Entry, official bool) zooFileJSON {
		f := zooFileJSON{File: e.Weights}
		if official {
			f.File = e.Official
		}
		if p, ok := zo.CachedPath(e, official); ok {
			f.Cached, f.Path = true, p
			f.RecordedSHA256 = zo.RecordedSHA256(p)
		}
		return f
	}
	switch opts.Format {
	case "json":
		out := struct {
			CacheDir string         `json:"cache_dir"`
			Models   []zooEntryJSON `json:"models"`
		}{CacheDir: dir, Models: []zooEntryJSON{}}
		for _, e := range reg.Entries() {
			j := zooEntryJSON{
				Name: e.Name, Display: e.Display, Arch: e.Arch, ImgSize: e.ImgSize,
				OutIndices: e.OutIndices, Preprocess: e.Preprocess, Weights: fileInfo(e, false),
			}
			if len(e.Official.URLs) > 0 {
				o := fileInfo(e, true)
				j.Official = &o
			}
			out.Models = append(out.Models, j)
		}
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "text":
		tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tMODEL\tIMG\tARCH\tCACHED")
		for _, e := range reg.Entries() {
			var cached []string
			if fileInfo(e, false).Cached {
				cached = append(cached, "mmpretrain")
			}
			if len(e.Official.URLs) > 0 && fileInfo(e, true).Cached {
				cached = append(cached, "official")
			}
			c := "-"
			if len(cached) > 0 {
				c = strings.Join(cached, ", ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", e.Name, e.Display, e.ImgSize, e.Arch, c)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "cache: %s\n", dir)
		return nil
	default:
		return usageError("--format %q: want text or json", opts.Format)
	}
}
