package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The file system operations of a commit (tests replace them to fail one
// midway).
var (
	renameFile = os.Rename
	linkFile   = os.Link
)

// Commit places every file at its target, together: all of them or, on
// any error, none (the targets are then as they were before, see the
// package documentation). Whatever the outcome, the files are done
// afterwards: committed, or discarded with their temporary names removed.
func Commit(files ...*File) (err error) {
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Abort()
			}
		}
	}()
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if f == nil {
			return errors.New("atomicfile: Commit of a nil File")
		}
		if f.done {
			return &Error{Path: f.target, Op: "committing", Err: ErrClosed}
		}
		if err := f.ctx.Err(); err != nil {
			return &Error{Path: f.target, Op: "committing", Err: err}
		}
		key := filepath.Clean(f.target)
		if seen[key] {
			return &Error{Path: f.target, Op: "committing", Err: errors.New("the same target twice in one commit")}
		}
		seen[key] = true
	}

	// 1. Check every target, sync every file and give it the name it is
	// renamed from.
	exists := make([]bool, len(files))
	for i, f := range files {
		if exists[i], err = check(f.target, f.opts.Replace); err != nil {
			return err
		}
	}
	for _, f := range files {
		if !f.opts.NoSync && !f.synced {
			if err := f.Sync(); err != nil {
				return err
			}
		}
	}
	for i, f := range files {
		if err := f.stage(exists[i]); err != nil {
			return err
		}
	}

	// 2. Back up the targets that a later failure would have to restore.
	backups := make([]string, len(files))
	moved := make([]bool, len(files))
	defer func() {
		for i, b := range backups {
			switch {
			case b == "":
			case moved[i] && err != nil:
				// The target was renamed away and not replaced: back.
				renameFile(b, files[i].target)
			default:
				os.Remove(b)
			}
		}
	}()
	for i, f := range files[:len(files)-1] {
		if exists[i] && f.opts.Replace {
			if backups[i], moved[i], err = backup(f.target); err != nil {
				return &Error{Path: f.target, Op: "committing", Err: fmt.Errorf("keeping the previous file: %w", err)}
			}
		}
	}

	// 3. Place them in order, restoring the placed ones on a failure.
	for i, f := range files {
		if err := f.place(); err != nil {
			return restore(files[:i], backups, err)
		}
	}
	for _, f := range files {
		f.done = true
	}

	// 4. Make the renames durable.
	synced := make(map[string]bool)
	for _, f := range files {
		if dir := filepath.Dir(f.target); !f.opts.NoSync && !synced[dir] {
			synced[dir] = true
			syncDir(dir)
		}
	}
	return nil
}

// stage makes the file ready to be placed: closed, under its temporary
// name, unless it is unnamed and not to replace anything (then place
// links the open file at the target directly).
func (f *File) stage(exists bool) error {
	if f.unnamed && f.opts.Replace && !exists && f.tmp == "" {
		// Nothing to replace: link the open file at the target directly
		// (place), so that no temporary name ever exists.
		f.direct = true
		return nil
	}
	if f.unnamed && f.opts.Replace && f.tmp == "" {
		for i := 0; ; i++ {
			name, err := hiddenName(f.target, "tmp")
			if err != nil {
				return &Error{Path: f.target, Op: "committing", Err: err}
			}
			err = linkUnnamed(f.f, name)
			if errors.Is(err, fs.ErrExist) && i < 10 {
				continue
			}
			if err != nil {
				return &Error{Path: f.target, Op: "committing", Err: bare(err)}
			}
			f.tmp = name
			break
		}
	}
	if f.unnamed && !f.opts.Replace {
		return nil
	}
	if err := f.close(); err != nil {
		// A close can report a write that failed late (NFS).
		return &Error{Path: f.target, Op: "writing", Err: bare(err)}
	}
	return nil
}

// place puts the staged file at its target.
func (f *File) place() error {
	if f.direct {
		err := linkUnnamed(f.f, f.target)
		if err == nil {
			f.direct = false
			f.close()
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return &Error{Path: f.target, Op: "committing", Err: bare(err)}
		}
		// The target appeared since it was checked: replace it.
		f.direct = false
		if err := f.stage(true); err != nil {
			return err
		}
	}
	if f.opts.Replace {
		if err := renameFile(f.tmp, f.target); err != nil {
			return &Error{Path: f.target, Op: "committing", Err: bare(err)}
		}
		f.tmp = ""
		return nil
	}
	if f.unnamed {
		err := linkUnnamed(f.f, f.target)
		if errors.Is(err, fs.ErrExist) {
			return &Error{Path: f.target, Err: ErrExist}
		}
		if err != nil {
			return &Error{Path: f.target, Op: "committing", Err: bare(err)}
		}
		f.close()
		return nil
	}
	err := linkFile(f.tmp, f.target)
	if err == nil {
		os.Remove(f.tmp)
		f.tmp = ""
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return &Error{Path: f.target, Err: ErrExist}
	}
	// No hard links here: a check, then a rename.
	if _, err := check(f.target, false); err != nil {
		return err
	}
	if err := renameFile(f.tmp, f.target); err != nil {
		return &Error{Path: f.target, Op: "committing", Err: bare(err)}
	}
	f.tmp = ""
	return nil
}

// backup gives the existing target a second, hidden name: a hard link
// or, without hard links, a rename (moved).
func backup(target string) (name string, moved bool, err error) {
	for i := 0; ; i++ {
		name, err := hiddenName(target, "bak")
		if err != nil {
			return "", false, err
		}
		err = linkFile(target, name)
		if err == nil {
			return name, false, nil
		}
		if errors.Is(err, fs.ErrExist) && i < 10 {
			continue
		}
		if errors.Is(err, fs.ErrExist) {
			return "", false, bare(err)
		}
		if err := renameFile(target, name); err != nil {
			return "", false, bare(err)
		}
		return name, true, nil
	}
}

// restore undoes the placing of files (in reverse order) after failed,
// the error of placing the next one: a replaced target gets its backup
// back, a new one is removed.
func restore(files []*File, backups []string, failed error) error {
	var lost []string
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		if backups[i] != "" {
			if err := renameFile(backups[i], f.target); err != nil {
				lost = append(lost, fmt.Sprintf("%s could not be restored (%v; the previous file is kept as %s)", f.target, bare(err), backups[i]))
			}
			backups[i] = ""
			continue
		}
		if err := os.Remove(f.target); err != nil && !errors.Is(err, fs.ErrNotExist) {
			lost = append(lost, fmt.Sprintf("%s could not be removed (%v)", f.target, bare(err)))
		}
	}
	if len(lost) == 0 {
		return failed
	}
	var e *Error
	if errors.As(failed, &e) {
		return &Error{Path: e.Path, Op: e.Op, Err: fmt.Errorf("%w; and %s", e.Err, joinSemi(lost))}
	}
	return fmt.Errorf("%w; and %s", failed, joinSemi(lost))
}

func joinSemi(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

// syncDir makes the renames in dir durable, best effort (some file
// systems and systems refuse to sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
