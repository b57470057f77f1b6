package atomicfile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultPerm is the permission of a new file when Options.Perm is zero
// (less the umask).
const DefaultPerm fs.FileMode = 0o644

// Options are the choices of one file.
type Options struct {
	// Replace allows an existing target to be replaced; without it an
	// existing target is ErrExist.
	Replace bool
	// NoSync skips the fsync of the file before its rename and of the
	// directory after (see the package documentation for what that risks).
	NoSync bool
	// Perm is the new file's permission bits, less the umask; zero means
	// DefaultPerm.
	Perm fs.FileMode
}

func (o Options) perm() fs.FileMode {
	if o.Perm == 0 {
		return DefaultPerm
	}
	return o.Perm & fs.ModePerm
}

// The errors callers branch on (with errors.Is).
var (
	// ErrExist: the target exists and Options.Replace is not set. It
	// matches fs.ErrExist too.
	ErrExist error = existError{}
	// ErrIsDir: the target is a directory.
	ErrIsDir = errors.New("is a directory")
	// ErrClosed: the file was already committed or aborted.
	ErrClosed = errors.New("file already committed or discarded")
)

type existError struct{}

func (existError) Error() string        { return "already exists" }
func (existError) Is(target error) bool { return target == fs.ErrExist }

// Error is an error writing a target file.
type Error struct {
	// Path is the target (never the temporary file).
	Path string
	// Op is what failed: "creating", "writing", "syncing", "committing",
	// or "" for a problem with the target itself (ErrExist, ErrIsDir).
	Op  string
	Err error
}

func (e *Error) Error() string {
	if e.Op == "" {
		return e.Path + ": " + e.Err.Error()
	}
	return e.Path + ": " + e.Op + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// bare drops the *fs.PathError and *os.LinkError wrappers, whose paths may
// be temporary names.
func bare(err error) error {
	for {
		var pe *fs.PathError
		var le *os.LinkError
		var se *os.SyscallError
		switch {
		case errors.As(err, &pe):
			err = pe.Err
		case errors.As(err, &le):
			err = le.Err
		case errors.As(err, &se):
			err = se.Err
		default:
			return err
		}
	}
}

// tryUnnamed is false in tests of the named temporary files.
var tryUnnamed = true

// File is a file being written, to appear at its target on Commit.
type File struct {
	ctx    context.Context
	target string
	opts   Options
	f      *os.File // nil once closed
	// tmp is the temporary name; "" while the file is unnamed (O_TMPFILE)
	// or once it has been placed.
	tmp     string
	unnamed bool
	direct  bool // unnamed, replacing nothing: linked at the target by place
	synced  bool
	done    bool
}

// Create starts writing the file that Commit will place at target. It
// fails, writing nothing, if the target is a directory, exists without
// opts.Replace, or its directory does not take new files.
func Create(ctx context.Context, target string, opts Options) (*File, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, &Error{Path: target, Op: "creating", Err: err}
	}
	if _, err := check(target, opts.Replace); err != nil {
		return nil, err
	}
	f := &File{ctx: ctx, target: target, opts: opts}
	dir := filepath.Dir(target)
	if tryUnnamed {
		if osf, err := createUnnamed(dir, target, opts.perm()); err == nil {
			f.f, f.unnamed = osf, true
			return f, nil
		}
	}
	for i := 0; ; i++ {
		name, err := hiddenName(target, "tmp")
		if err != nil {
			return nil, &Error{Path: target, Op: "creating", Err: err}
		}
		osf, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, opts.perm())
		if errors.Is(err, fs.ErrExist) && i < 10 {
			continue
		}
		if err != nil {
			return nil, &Error{Path: target, Op: "creating", Err: bare(err)}
		}
		f.f, f.tmp = osf, name
		return f, nil
	}
}

// check is the rule on a target: not a directory, and absent unless
// replace. It reports whether the target exists.
func check(target string, replace bool) (exists bool, err error) {
	fi, err := os.Lstat(target)
	switch {
	case err == nil:
		if fi.IsDir() {
			return true, &Error{Path: target, Err: ErrIsDir}
		}
		if !replace {
			return true, &Error{Path: target, Err: ErrExist}
		}
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, &Error{Path: target, Op: "creating", Err: bare(err)}
}

// hiddenName returns "." + base + "." + kind + "-" + 12 random hex digits
// beside target.
func hiddenName(target, kind string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+"."+kind+"-"+hex.EncodeToString(b[:])), nil
}

// Name returns the target.
func (f *File) Name() string { return f.target }

// OS returns the open temporary file, for the system calls a writer
// needs (SyscallConn for early writeback, Stat). Write through f rather
// than through it, so that errors name the target; never close it.
func (f *File) OS() *os.File { return f.f }

// Write writes p to the file. After the context of Create is done it
// fails with the context's error.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, &Error{Path: f.target, Op: "writing", Err: ErrClosed}
	}
	if err := f.ctx.Err(); err != nil {
		return 0, &Error{Path: f.target, Op: "writing", Err: err}
	}
	f.synced = false
	n, err := f.f.Write(p)
	if err != nil {
		return n, &Error{Path: f.target, Op: "writing", Err: bare(err)}
	}
	return n, nil
}

// Sync flushes what was written to the disk now; Commit then does not
// sync the file again unless it is written to after.
func (f *File) Sync() error {
	if f.done {
		return &Error{Path: f.target, Op: "syncing", Err: ErrClosed}
	}
	if err := f.f.Sync(); err != nil {
		return &Error{Path: f.target, Op: "syncing", Err: bare(err)}
	}
	f.synced = true
	return nil
}

// Commit places the file at its target (Commit(f)).
func (f *File) Commit() error { return Commit(f) }

// Abort discards the file: it is closed and its temporary name removed.
// It does nothing after Commit or an earlier Abort.
func (f *File) Abort() {
	if f == nil || f.done {
		return
	}
	f.done = true
	f.close()
	if f.tmp != "" {
		os.Remove(f.tmp)
		f.tmp = ""
	}
}

func (f *File) close() error {
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	return err
}

// WriteFile writes data to a new file and commits it at target.
func WriteFile(ctx context.Context, target string, data []byte, opts Options) error {
	f, err := Create(ctx, target, opts)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}
