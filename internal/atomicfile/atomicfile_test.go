package atomicfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// modes runs f with unnamed temporary files (where the system has them)
// and with named ones.
func modes(t *testing.T, f func(t *testing.T)) {
	t.Run("unnamed", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("unnamed temporary files are Linux's")
		}
		f(t)
	})
	t.Run("named", func(t *testing.T) {
		tryUnnamed = false
		defer func() { tryUnnamed = true }()
		f(t)
	})
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range es {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func writeOld(t *testing.T, path, content string) os.FileInfo {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// sameOld checks that path is still the very file fi described, with its
// content.
func sameOld(t *testing.T, path string, fi os.FileInfo, content string) {
	t.Helper()
	got, err := os.Stat(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !os.SameFile(got, fi) {
		t.Errorf("%s is not the file that was there before", path)
	}
	if b, _ := os.ReadFile(path); string(b) != content {
		t.Errorf("%s holds %q, want %q", path, b, content)
	}
}

// noTempName checks that an error names target and no temporary or
// backup file.
func noTempName(t *testing.T, err error, target string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Path != target {
		t.Errorf("error %v (%T) does not name %s as its path", err, err, target)
	}
	if msg := err.Error(); !strings.Contains(msg, target) || strings.Contains(msg, ".tmp-") || strings.Contains(msg, ".bak-") {
		t.Errorf("error %q: want it to name %s and no temporary file", msg, target)
	}
}

// TestNothingVisibleWhileWriting: on Linux the file being written has no
// name in the directory; elsewhere (and without O_TMPFILE) a hidden one.
func TestNothingVisibleWhileWriting(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "out.bin")
		f, err := Create(context.Background(), target, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Abort()
		if _, err := f.Write(bytes.Repeat([]byte("x"), 1<<16)); err != nil {
			t.Fatal(err)
		}
		names := listDir(t, dir)
		if tryUnnamed {
			if len(names) != 0 {
				t.Errorf("unnamed file visible as %v", names)
			}
		} else if len(names) != 1 || !strings.HasPrefix(names[0], ".out.bin.tmp-") {
			t.Errorf("named temporary file: %v", names)
		}
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"out.bin"}) {
			t.Errorf("after commit: %v", names)
		}
	})
}

func TestNoClobber(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "out.bin")
		fi := writeOld(t, target, "old")
		_, err := Create(context.Background(), target, Options{})
		if !errors.Is(err, ErrExist) || !errors.Is(err, fs.ErrExist) {
			t.Errorf("Create over an existing file: %v", err)
		}
		noTempName(t, err, target)
		sameOld(t, target, fi, "old")

		// The target appears between Create and Commit: the link fails.
		target2 := filepath.Join(dir, "late.bin")
		f, err := Create(context.Background(), target2, Options{})
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("new"))
		fi2 := writeOld(t, target2, "someone else's")
		err = f.Commit()
		if !errors.Is(err, ErrExist) {
			t.Errorf("Commit over a file created meanwhile: %v", err)
		}
		noTempName(t, err, target2)
		sameOld(t, target2, fi2, "someone else's")
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"late.bin", "out.bin"}) {
			t.Errorf("left %v", names)
		}
	})
}

// TestNoClobberRace: of several writers of one new target, exactly one
// wins, whole.
func TestNoClobberRace(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "out.bin")
		var files []*File
		for i := 0; i < 4; i++ {
			f, err := Create(context.Background(), target, Options{})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(f, "writer %d", i)
			files = append(files, f)
		}
		won := -1
		for i, f := range files {
			err := f.Commit()
			switch {
			case err == nil && won < 0:
				won = i
			case errors.Is(err, ErrExist):
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		}
		if b, _ := os.ReadFile(target); won != 0 || string(b) != "writer 0" {
			t.Errorf("winner %d, content %q", won, b)
		}
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"out.bin"}) {
			t.Errorf("left %v", names)
		}
	})
}

func TestReplace(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "out.bin")
		writeOld(t, target, "old")
		// A reader holding the old file keeps reading the old bytes.
		r, err := os.Open(target)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := WriteFile(context.Background(), target, []byte("new"), Options{Replace: true}); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(target); string(b) != "new" {
			t.Errorf("content %q", b)
		}
		var buf [8]byte
		if n, _ := r.Read(buf[:]); string(buf[:n]) != "old" {
			t.Errorf("old reader sees %q", buf[:n])
		}
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"out.bin"}) {
			t.Errorf("left %v", names)
		}
		// A symbolic link is replaced, not followed.
		if runtime.GOOS == "windows" {
			return
		}
		other := filepath.Join(dir, "other")
		writeOld(t, other, "other")
		link := filepath.Join(dir, "link")
		if err := os.Symlink(other, link); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(context.Background(), link, []byte("new"), Options{Replace: true}); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Lstat(link); fi.Mode()&fs.ModeSymlink != 0 {
			t.Errorf("link still a link")
		}
		if b, _ := os.ReadFile(other); string(b) != "other" {
			t.Errorf("link's target written: %q", b)
		}
	})
}

// TestDirectoryTarget: a directory where the file goes says so, with or
// without Replace, at Create and at Commit.
func TestDirectoryTarget(t *testing.T) {
	modes(t, func(t *testing.T) {
		for _, replace := range []bool{false, true} {
			dir := t.TempDir()
			target := filepath.Join(dir, "out.bin")
			os.Mkdir(target, 0o755)
			_, err := Create(context.Background(), target, Options{Replace: replace})
			if !errors.Is(err, ErrIsDir) || errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "is a directory") {
				t.Errorf("replace %v: Create onto a directory: %v", replace, err)
			}
			noTempName(t, err, target)

			late := filepath.Join(dir, "late.bin")
			f, err := Create(context.Background(), late, Options{Replace: replace})
			if err != nil {
				t.Fatal(err)
			}
			os.Mkdir(late, 0o755)
			err = f.Commit()
			if !errors.Is(err, ErrIsDir) || !strings.Contains(err.Error(), "is a directory") {
				t.Errorf("replace %v: Commit onto a directory: %v", replace, err)
			}
			noTempName(t, err, late)
			if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"late.bin", "out.bin"}) {
				t.Errorf("left %v", names)
			}
		}
	})
}

// TestUnusableDirectory: a missing or unwritable directory is an error at
// Create naming the target.
func TestUnusableDirectory(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		if os.Geteuid() == 0 {
			ro = "/proc" // root ignores permission bits; nobody creates files in /proc
		}
		file := writeOld(t, filepath.Join(dir, "file"), "x")
		_ = file
		for _, target := range []string{filepath.Join(dir, "missing", "out.bin"), filepath.Join(ro, "out.bin"), filepath.Join(dir, "file", "out.bin")} {
			_, err := Create(context.Background(), target, Options{Replace: true})
			if err == nil {
				t.Errorf("%s: no error", target)
				continue
			}
			noTempName(t, err, target)
		}
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"file", "ro"}) {
			t.Errorf("left %v", names)
		}
	})
}

func TestAbort(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "out.bin")
		fi := writeOld(t, target, "old")
		f, err := Create(context.Background(), target, Options{Replace: true})
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("new"))
		f.Abort()
		f.Abort()
		if _, err := f.Write([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Abort: %v", err)
		}
		if err := f.Commit(); !errors.Is(err, ErrClosed) {
			t.Errorf("Commit after Abort: %v", err)
		}
		sameOld(t, target, fi, "old")
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"out.bin"}) {
			t.Errorf("left %v", names)
		}
		// Abort after Commit does nothing.
		if err := WriteFile(context.Background(), target, []byte("new"), Options{Replace: true}); err != nil {
			t.Fatal(err)
		}
		g, _ := Create(context.Background(), filepath.Join(dir, "b"), Options{})
		g.Write([]byte("b"))
		if err := g.Commit(); err != nil {
			t.Fatal(err)
		}
		g.Abort()
		if b, _ := os.ReadFile(filepath.Join(dir, "b")); string(b) != "b" {
			t.Errorf("Abort after Commit: %q", b)
		}
	})
}

// TestCancel: once the context is done, writes and the commit fail with
// its error and the old file stays.
func TestCancel(t *testing.T) {
	modes(t, func(t *testing.T) {
		for _, cancelBefore := range []string{"write", "commit"} {
			dir := t.TempDir()
			target := filepath.Join(dir, "out.bin")
			fi := writeOld(t, target, "old")
			ctx, cancel := context.WithCancel(context.Background())
			f, err := Create(ctx, target, Options{Replace: true})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Abort()
			f.Write([]byte("new"))
			cancel()
			if cancelBefore == "write" {
				if _, err := f.Write([]byte("more")); !errors.Is(err, context.Canceled) {
					t.Errorf("Write after cancel: %v", err)
				}
			}
			err = f.Commit()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Commit after cancel: %v", err)
			}
			noTempName(t, err, target)
			sameOld(t, target, fi, "old")
			if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"out.bin"}) {
				t.Errorf("left %v", names)
			}
		}
	})
}

// TestSyncEarly: an early Sync (on another goroutine) then Commit; and
// NoSync.
func TestSyncEarly(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		for i, opts := range []Options{{}, {NoSync: true}} {
			target := filepath.Join(dir, fmt.Sprint(i))
			f, err := Create(context.Background(), target, opts)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("data"))
			done := make(chan error)
			go func() { done <- f.Sync() }()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !f.synced {
				t.Errorf("Sync did not mark the file synced")
			}
			f.Write([]byte("more"))
			if f.synced {
				t.Errorf("a write after Sync left the file marked synced")
			}
			if err := f.Commit(); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(target); string(b) != "datamore" {
				t.Errorf("content %q", b)
			}
		}
	})
}

// group creates files at targets with content and options.
func group(t *testing.T, targets []string, content string, opts Options) []*File {
	t.Helper()
	var files []*File
	for _, target := range targets {
		f, err := Create(context.Background(), target, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(f.Abort)
		if _, err := f.Write([]byte(content + " " + filepath.Base(target))); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

func TestGroupCommit(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		targets := []string{filepath.Join(dir, "out"), filepath.Join(dir, "out.json"), filepath.Join(dir, "out.md")}
		writeOld(t, targets[1], "old out.json")
		if err := Commit(group(t, targets, "new", Options{Replace: true})...); err != nil {
			t.Fatal(err)
		}
		for _, p := range targets {
			if b, _ := os.ReadFile(p); string(b) != "new "+filepath.Base(p) {
				t.Errorf("%s: %q", p, b)
			}
		}
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"out", "out.json", "out.md"}) {
			t.Errorf("left %v", names)
		}
		// The same target twice is refused.
		a := group(t, []string{targets[0]}, "x", Options{Replace: true})
		b := group(t, []string{filepath.Join(dir, ".", "out")}, "y", Options{Replace: true})
		if err := Commit(a[0], b[0]); err == nil {
			t.Errorf("the same target twice: no error")
		}
	})
}

// oldFiles writes an "old" version of every target and returns their
// stats.
func oldFiles(t *testing.T, targets []string) []os.FileInfo {
	var fis []os.FileInfo
	for _, p := range targets {
		fis = append(fis, writeOld(t, p, "old "+filepath.Base(p)))
	}
	return fis
}

// TestGroupPreflight: an unusable target (a directory, an existing file
// without Replace) fails the whole group before anything is replaced.
func TestGroupPreflight(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		targets := []string{filepath.Join(dir, "out"), filepath.Join(dir, "out.json"), filepath.Join(dir, "out.md")}
		files := group(t, targets, "new", Options{Replace: true})
		fis := oldFiles(t, targets[:2])
		os.Mkdir(targets[2], 0o755)
		err := Commit(files...)
		if !errors.Is(err, ErrIsDir) || !strings.Contains(err.Error(), "is a directory") {
			t.Errorf("group with a directory target: %v", err)
		}
		noTempName(t, err, targets[2])
		for i := range fis {
			sameOld(t, targets[i], fis[i], "old "+filepath.Base(targets[i]))
		}
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"out", "out.json", "out.md"}) {
			t.Errorf("left %v", names)
		}
		for _, f := range files {
			if !f.done {
				t.Errorf("%s not discarded after a failed commit", f.target)
			}
		}

		// Without Replace, the last target existing blocks the first.
		dir = t.TempDir()
		targets = []string{filepath.Join(dir, "out"), filepath.Join(dir, "out.json")}
		files = group(t, targets, "new", Options{})
		fi := writeOld(t, targets[1], "old")
		if err := Commit(files...); !errors.Is(err, ErrExist) {
			t.Errorf("group with an existing target: %v", err)
		}
		sameOld(t, targets[1], fi, "old")
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"out.json"}) {
			t.Errorf("left %v", names)
		}
	})
}

// failRename makes the rename onto target fail: with the injected error,
// or, when err is nil, by putting a directory there first (so that the
// real rename fails).
func failRename(t *testing.T, target string, err error) {
	t.Helper()
	real := renameFile
	renameFile = func(from, to string) error {
		if to == target && strings.Contains(from, ".tmp-") {
			if err != nil {
				return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
			}
			os.Remove(to)
			if e := os.Mkdir(to, 0o755); e != nil {
				t.Fatal(e)
			}
			os.WriteFile(filepath.Join(to, "x"), nil, 0o644)
		}
		return real(from, to)
	}
	t.Cleanup(func() { renameFile = real })
}

// TestGroupRestore: a rename that fails midway restores the targets
// already replaced (the very files that were there, by their backups)
// and removes the ones that did not exist.
func TestGroupRestore(t *testing.T) {
	modes(t, func(t *testing.T) {
		for _, injected := range []error{syscall.EIO, nil} {
			dir := t.TempDir()
			targets := []string{filepath.Join(dir, "out"), filepath.Join(dir, "new.json"), filepath.Join(dir, "out.md"), filepath.Join(dir, "last")}
			files := group(t, targets, "new", Options{Replace: true})
			fis := oldFiles(t, []string{targets[0], targets[2], targets[3]})
			failRename(t, targets[2], injected)
			err := Commit(files...)
			renameFile = os.Rename
			if err == nil {
				t.Fatal("commit succeeded")
			}
			noTempName(t, err, targets[2])
			if injected != nil && !errors.Is(err, injected) {
				t.Errorf("error %v, want %v", err, injected)
			}
			sameOld(t, targets[0], fis[0], "old out")
			sameOld(t, targets[3], fis[2], "old last")
			if _, err := os.Lstat(targets[1]); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s, new in the failed group, still there: %v", targets[1], err)
			}
			want := []string{"last", "out", "out.md"}
			if injected == nil {
				if fi, _ := os.Lstat(targets[2]); !fi.IsDir() {
					t.Errorf("the directory put in the way is gone")
				}
			} else {
				sameOld(t, targets[2], fis[1], "old out.md")
			}
			if names := listDir(t, dir); !reflect.DeepEqual(names, want) {
				t.Errorf("injected %v: left %v, want %v", injected, names, want)
			}
		}
	})
}

// TestGroupRestoreFails: if a restore fails too, the error says so and
// the backup is kept.
func TestGroupRestoreFails(t *testing.T) {
	dir := t.TempDir()
	targets := []string{filepath.Join(dir, "out"), filepath.Join(dir, "out.md")}
	files := group(t, targets, "new", Options{Replace: true})
	oldFiles(t, targets)
	real := renameFile
	renameFile = func(from, to string) error {
		if to == targets[1] || strings.Contains(from, ".bak-") {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.EIO}
		}
		return real(from, to)
	}
	err := Commit(files...)
	renameFile = real
	if err == nil || !strings.HasPrefix(err.Error(), targets[1]+": ") || !strings.Contains(err.Error(), targets[0]+" could not be restored") {
		t.Fatalf("error %v", err)
	}
	names := listDir(t, dir)
	var bak string
	for _, n := range names {
		if strings.HasPrefix(n, ".out.bak-") {
			bak = filepath.Join(dir, n)
		}
	}
	if bak == "" || !strings.Contains(err.Error(), bak) {
		t.Fatalf("backup not kept or not named: %v, %v", names, err)
	}
	if b, _ := os.ReadFile(bak); string(b) != "old out" {
		t.Errorf("backup holds %q", b)
	}
}

// TestGroupBackupByRename: where hard links fail, the backup is a rename
// and a failure puts the old file back.
func TestGroupBackupByRename(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := t.TempDir()
		targets := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")}
		files := group(t, targets, "new", Options{Replace: true})
		fis := oldFiles(t, targets)
		realLink := linkFile
		linkFile = func(from, to string) error {
			return &os.LinkError{Op: "link", Old: from, New: to, Err: syscall.EPERM}
		}
		defer func() { linkFile = realLink }()
		failRename(t, targets[2], syscall.EIO)
		if err := Commit(files...); !errors.Is(err, syscall.EIO) {
			t.Errorf("error %v", err)
		}
		for i, p := range targets {
			sameOld(t, p, fis[i], "old "+filepath.Base(p))
		}
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"a", "b", "c"}) {
			t.Errorf("left %v", names)
		}
	})
}
