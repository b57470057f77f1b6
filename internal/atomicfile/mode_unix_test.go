//go:build unix

package atomicfile

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

// TestWriteAndMode: a new file's mode is Perm (0644 by default) less the
// umask, replacing a file or not.
func TestWriteAndMode(t *testing.T) {
	modes(t, func(t *testing.T) {
		for _, c := range []struct {
			umask int
			perm  fs.FileMode
			want  fs.FileMode
		}{{0o022, 0, 0o644}, {0o077, 0, 0o600}, {0o002, 0, 0o644}, {0o022, 0o600, 0o600}, {0o000, 0o640, 0o640}} {
			dir := t.TempDir()
			target := filepath.Join(dir, "out.bin")
			old := syscall.Umask(c.umask)
			err := WriteFile(context.Background(), target, []byte("new"), Options{Perm: c.perm})
			syscall.Umask(old)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(target)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != c.want {
				t.Errorf("umask %03o, perm %v: mode %v, want %v", c.umask, c.perm, fi.Mode().Perm(), c.want)
			}
			if b, _ := os.ReadFile(target); string(b) != "new" {
				t.Errorf("content %q", b)
			}
			if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"out.bin"}) {
				t.Errorf("directory holds %v", names)
			}
		}
		// A replaced file's mode is not carried over.
		dir := t.TempDir()
		target := filepath.Join(dir, "out.bin")
		writeOld(t, target, "old")
		os.Chmod(target, 0o600)
		old := syscall.Umask(0o022)
		err := WriteFile(context.Background(), target, []byte("new"), Options{Replace: true})
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o644 {
			t.Errorf("replaced file mode %v, want 0644", fi.Mode().Perm())
		}
	})
}
