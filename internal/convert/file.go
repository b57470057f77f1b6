package convert

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

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
// reports beside it (see FileOptions.ReportBase). Every file is written to
// a temporary file in its target directory and renamed into place at the
// end; on any error nothing is left at dst or the report paths, nor any
// temporary file. The source's SHA-256 is computed while converting, unless
// opts.Digests has it.
func ConvertFile(ctx context.Context, src, dst string, opts FileOptions) (rep *Report, err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Format == "" {
		f, ok := FormatFromPath(dst)
		if !ok {
			return nil, fmt.Errorf("%s: cannot tell the output format from the extension (use .pth, .safetensors or .gguf, or --to)", dst)
		}
		opts.Format = f
	}
	if err := opts.Options.Check(); err != nil {
		return nil, err
	}
	jsonPath, mdPath := ReportPaths(dst, opts.ReportBase)
	targets := []string{dst, jsonPath, mdPath}
	if !opts.Force {
		for _, t := range targets {
			if _, err := os.Lstat(t); err == nil {
				return nil, fmt.Errorf("%s already exists (use --force to replace it)", t)
			}
		}
	}
	if a, b := filepath.Clean(jsonPath), filepath.Clean(mdPath); a == filepath.Clean(dst) || b == filepath.Clean(dst) {
		return nil, fmt.Errorf("%s: the report would overwrite the output", dst)
	}

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
			r.d, r.err = opts.Digests.Rehash(hctx, src)
		} else {
			r.d, r.err = opts.Digests.File(hctx, src)
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

	var temps []string
	defer func() {
		if err != nil {
			for _, t := range temps {
				os.Remove(t)
			}
		}
	}()
	tmp, f, err := createTemp(dst)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot write: %w", dst, unwrapPath(err))
	}
	temps = append(temps, tmp)
	// The output is synced (before its rename) while the rest goes on: the
	// source's hash (which a .pth's conversion does not wait for), the
	// reports and their own syncs.
	syncDone := make(chan error, 1)
	syncing, closed := false, false
	closeOut := func() error {
		if closed {
			return nil
		}
		closed = true
		var err error
		if syncing {
			err = <-syncDone
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	defer closeOut()
	var out io.Writer = f
	onWritten := func() {}
	if !opts.NoSync {
		out = newWriteback(f)
		onWritten = func() {
			syncing = true
			go func() { syncDone <- f.Sync() }()
		}
	}
	rep, err = convert(ctx, c, source, out, opts.Options, onWritten)
	if err != nil {
		var we *WriteError
		if errors.As(err, &we) {
			err = fmt.Errorf("%s: %w", dst, err)
		}
		return nil, err
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
	reports := map[string][]byte{jsonPath: js.Bytes(), mdPath: md.Bytes()}
	tmpOf := map[string]string{dst: tmp}
	for _, p := range []string{jsonPath, mdPath} {
		t, err := writeTemp(p, reports[p], !opts.NoSync)
		if err != nil {
			return nil, fmt.Errorf("%s: cannot write: %w", p, unwrapPath(err))
		}
		temps = append(temps, t)
		tmpOf[p] = t
	}
	if err = closeOut(); err != nil {
		return nil, fmt.Errorf("%s: writing: %w", dst, unwrapPath(err))
	}
	var placed []string
	for _, p := range targets {
		if err = place(tmpOf[p], p, opts.Force); err != nil {
			for _, q := range placed {
				os.Remove(q)
			}
			return nil, err
		}
		placed = append(placed, p)
	}
	return rep, nil
}

// unwrapPath drops the *PathError wrapper (whose path is a temp name).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func tempName(target string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".tmp-"+hex.EncodeToString(b[:])), nil
}

// createTemp creates a new temporary file beside target, with the mode a
// new file gets (0666 less the umask).
func createTemp(target string) (string, *os.File, error) {
	for i := 0; ; i++ {
		name, err := tempName(target)
		if err != nil {
			return "", nil, err
		}
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) && i < 10 {
			continue
		}
		return name, f, err
	}
}

// writeTemp writes data to a new temporary file beside target (synced to
// the disk when sync is set) and returns its name.
func writeTemp(target string, data []byte, sync bool) (string, error) {
	name, f, err := createTemp(target)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// place moves tmp to target: replacing it when force, else only if target
// does not exist (a hard link fails if it does; where links are not
// supported, a check and a rename).
func place(tmp, target string, force bool) error {
	if force {
		if err := os.Rename(tmp, target); err != nil {
			return fmt.Errorf("%s: cannot replace: %w", target, unwrapLink(err))
		}
		return nil
	}
	err := os.Link(tmp, target)
	switch {
	case err == nil:
		os.Remove(tmp)
		return nil
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s already exists (use --force to replace it)", target)
	}
	if _, serr := os.Lstat(target); serr == nil {
		return fmt.Errorf("%s already exists (use --force to replace it)", target)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("%s: cannot create: %w", target, unwrapLink(err))
	}
	return nil
}

func unwrapLink(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
