package convert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/glipctl/glipctl/internal/atomicfile"
	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/formats"
	"github.com/glipctl/glipctl/internal/digest"
)

// FileOptions are the options of ConvertFile.
type FileOptions struct {
	Options
	// Force replaces an existing output (and reports); without it an
	// existing file is an error and nothing is written.
	Force bool
	// ReportBase is the path the reports are written to, with ".json" and
	// ".md" appended; "" means DST + ".report".
	ReportBase string
	// Open controls the reading of the source.
	Open ckpt.OpenOptions
	// Digests is the cache of file hashes the source's SHA-256 is taken
	// from (and stored in); its zero value hashes the source every time.
	Digests digest.Cache
	// Rehash hashes the source even when Digests has its sum, and
	// refreshes the entry.
	Rehash bool
	// NoSync skips the fsync of the output and the reports before they
	// are renamed into place (and the early writeback). Errors and
	// interruptions still leave nothing behind, but after a power loss or
	// a kernel crash a just-written file may be empty or partial, and a
	// write error that the file system reports only on sync goes
	// unnoticed. For scratch disks and throw-away CI machines.
	NoSync bool
}

// ReportPaths returns the JSON and Markdown report paths for dst.
func ReportPaths(dst, base string) (jsonPath, mdPath string) {
	if base == "" {
		base = dst + ".report"
	}
	return base + ".json", base + ".md"
}

// ConvertFile converts the checkpoint at src into dst and writes the
// reports beside it (see FileOptions.ReportBase). The output and the two
// reports are written with atomicfile and committed together: on any
// error (or when ctx is cancelled) none of them is placed, the files that
// were at dst and the report paths before are left as they were, and no
// temporary file remains. The source's SHA-256 is computed while
// converting, unless opts.Digests has it.
func ConvertFile(ctx context.Context, src, dst string, opts FileOptions) (rep *Report, err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if DirLayout(opts.Layout) {
		return convertDir(ctx, src, dst, opts)
	}
	if opts.Format == "" {
		f, ok := FormatFromPath(dst)
		if !ok {
			return nil, &OptionError{Option: "format", Err: fmt.Errorf("%s: cannot tell the output format from the extension (use .pth, .safetensors or .gguf)", dst)}
		}
		opts.Format = f
	}
	if err := opts.Options.Check(); err != nil {
		return nil, err
	}
	jsonPath, mdPath := ReportPaths(dst, opts.ReportBase)
	if a, b := filepath.Clean(jsonPath), filepath.Clean(mdPath); a == filepath.Clean(dst) || b == filepath.Clean(dst) {
		return nil, fmt.Errorf("%s: the report would overwrite the output", dst)
	}

	// The three files are created first: a target that cannot be written
	// (exists without --force, a directory, no such directory) fails
	// before any work.
	fopts := atomicfile.Options{Replace: opts.Force, NoSync: opts.NoSync}
	var files []*atomicfile.File
	defer func() {
		for _, f := range files {
			f.Abort()
		}
	}()
	for _, p := range []string{dst, jsonPath, mdPath} {
		f, err := atomicfile.Create(ctx, p, fopts)
		if err != nil {
			return nil, targetError(err)
		}
		files = append(files, f)
	}
	out, jsonFile, mdFile := files[0], files[1], files[2]

	si, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if di, err := os.Stat(dst); err == nil && os.SameFile(si, di) {
		return nil, fmt.Errorf("%s: the output is the source file", dst)
	}

	// Hash the source (or find its sum in the digest cache) while
	// converting.
	hctx, cancelHash := context.WithCancel(ctx)
	defer cancelHash()
	type hashResult struct {
		d   digest.Digest
		err error
	}
	hashDone := make(chan hashResult, 1)
	go func() {
		var r hashResult
		if opts.Rehash {
			r.d, r.err = opts.Digests.Rehash(hctx, formats.HashPath(src))
		} else {
			r.d, r.err = opts.Digests.File(hctx, formats.HashPath(src))
		}
		hashDone <- r
	}()
	var hashed *hashResult
	source := Source{Path: src, Size: si.Size(), SHA256: func() (digest.Digest, error) {
		if hashed == nil {
			r := <-hashDone
			hashed = &r
		}
		if hashed.err != nil {
			return digest.Digest{}, fmt.Errorf("hashing: %w", unwrapPath(hashed.err))
		}
		return hashed.d, nil
	}}

	c, err := formats.Open(src, opts.Open)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	// The output is synced while the rest goes on: the source's hash
	// (which a .pth's conversion does not wait for), the reports and their
	// own syncs. The sync must be over before the files are committed or
	// discarded (the deferred Aborts run after this).
	syncDone := make(chan error, 1)
	syncing := false
	waitSync := func() error {
		if !syncing {
			return nil
		}
		syncing = false
		return <-syncDone
	}
	defer waitSync()
	var w io.Writer = out
	onWritten := func() {}
	if !opts.NoSync {
		w = newWriteback(out)
		onWritten = func() {
			syncing = true
			go func() { syncDone <- out.Sync() }()
		}
	}
	rep, err = convert(ctx, c, source, w, opts.Options, onWritten)
	if err != nil {
		return nil, targetError(err)
	}
	if err = rep.setSourceSHA256(source); err != nil {
		return nil, srcError(ctx, source, err)
	}
	rep.Output.Path = dst

	var js, md bytes.Buffer
	if err = rep.WriteJSON(&js); err != nil {
		return nil, err
	}
	if err = rep.WriteMarkdown(&md); err != nil {
		return nil, err
	}
	for _, r := range []struct {
		f    *atomicfile.File
		data []byte
	}{{jsonFile, js.Bytes()}, {mdFile, md.Bytes()}} {
		if _, err = r.f.Write(r.data); err != nil {
			return nil, targetError(err)
		}
		if !opts.NoSync {
			if err = r.f.Sync(); err != nil {
				return nil, err
			}
		}
	}
	if err = waitSync(); err != nil {
		return nil, err
	}
	if err = atomicfile.Commit(files...); err != nil {
		return nil, targetError(err)
	}
	return rep, nil
}

// targetError is err, an error of writing one of ConvertFile's files, as
// the one line the user reads: the file's own error, which names the file
// (errors.Is(err, atomicfile.ErrExist) for an existing one).
func targetError(err error) error {
	var ae *atomicfile.Error
	if !errors.As(err, &ae) {
		return err
	}
	return ae
}

// unwrapPath drops the *PathError wrapper (whose path may be a temp name).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
