package convert

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/atomicfile"
)

// snapshot is the identity and content of the files of a directory.
type snapshot map[string]struct {
	fi   os.FileInfo
	data string
}

func snap(t *testing.T, dir string) snapshot {
	t.Helper()
	s := snapshot{}
	for _, name := range listDir(t, dir) {
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		var data []byte
		if fi.Mode().IsRegular() {
			data, _ = os.ReadFile(p)
		}
		s[name] = struct {
			fi   os.FileInfo
			data string
		}{fi, string(data)}
	}
	return s
}

// unchanged checks that dir holds exactly the files of before, each the
// very file it was (same inode) with the same content.
func (before snapshot) unchanged(t *testing.T, dir string) {
	t.Helper()
	after := snap(t, dir)
	var a, b []string
	for n := range after {
		a = append(a, n)
	}
	for n := range before {
		b = append(b, n)
	}
	if len(a) != len(b) {
		t.Errorf("directory now holds %v, before %v", listDir(t, dir), b)
	}
	for n, x := range before {
		y, ok := after[n]
		if !ok {
			t.Errorf("%s is gone", n)
			continue
		}
		if !os.SameFile(x.fi, y.fi) || x.data != y.data {
			t.Errorf("%s was replaced or changed", n)
		}
	}
}

// TestForceKeepsOldFilesOnFailure: with DST.report.md an existing
// directory, convert --force fails before anything is replaced: the old
// DST and its JSON report stay as they were, the error names the report
// and says it is a directory, and no temporary file is left.
func TestForceKeepsOldFilesOnFailure(t *testing.T) {
	src := fixture(t, "official_small.pth")
	for _, f := range []string{"x.pth", "x.safetensors", "x.gguf"} {
		for _, noSync := range []bool{false, true} {
			dir := t.TempDir()
			dst := filepath.Join(dir, f)
			if _, err := ConvertFile(context.Background(), src, dst, FileOptions{Options: Options{DType: ToF16}}); err != nil {
				t.Fatal(err)
			}
			jsonPath, mdPath := ReportPaths(dst, "")
			if err := os.Remove(mdPath); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(mdPath, 0o755); err != nil {
				t.Fatal(err)
			}
			before := snap(t, dir)
			_, err := ConvertFile(context.Background(), src, dst, FileOptions{Force: true, NoSync: noSync})
			if !errors.Is(err, atomicfile.ErrIsDir) || err.Error() != mdPath+": is a directory" {
				t.Errorf("%s: error %v, want %q", f, err, mdPath+": is a directory")
			}
			before.unchanged(t, dir)
			if _, err := os.Stat(jsonPath); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestForceOntoDirectory: DST itself a directory is "is a directory",
// with or without --force, never "already exists".
func TestForceOntoDirectory(t *testing.T) {
	src := fixture(t, "official_small.pth")
	for _, force := range []bool{false, true} {
		dir := t.TempDir()
		dst := filepath.Join(dir, "x.pth")
		os.Mkdir(dst, 0o755)
		before := snap(t, dir)
		_, err := ConvertFile(context.Background(), src, dst, FileOptions{Force: force})
		if err == nil || err.Error() != dst+": is a directory" {
			t.Errorf("force %v: error %v", force, err)
		}
		before.unchanged(t, dir)
	}
}

// TestForceReplacesAll: --force replaces the output and both reports
// with the new ones, leaving nothing else.
func TestForceReplacesAll(t *testing.T) {
	src := fixture(t, "official_small.pth")
	dir := t.TempDir()
	dst := filepath.Join(dir, "x.safetensors")
	jsonPath, mdPath := ReportPaths(dst, "")
	for _, p := range []string{dst, jsonPath, mdPath} {
		os.WriteFile(p, []byte("old"), 0o644)
	}
	if _, err := ConvertFile(context.Background(), src, dst, FileOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dst, jsonPath, mdPath} {
		if b, _ := os.ReadFile(p); len(b) < 100 {
			t.Errorf("%s not replaced: %q", p, b)
		}
	}
	if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"x.safetensors", "x.safetensors.report.json", "x.safetensors.report.md"}) {
		t.Errorf("left %v", names)
	}
}

// TestCancelKeepsOldFiles: a conversion cancelled midway (--force over
// existing files) returns the context's error and leaves the old files.
func TestCancelKeepsOldFiles(t *testing.T) {
	src := fixture(t, "official_small.pth")
	dir := t.TempDir()
	dst := filepath.Join(dir, "x.pth")
	if _, err := ConvertFile(context.Background(), src, dst, FileOptions{Options: Options{DType: ToBF16}}); err != nil {
		t.Fatal(err)
	}
	before := snap(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := ConvertFile(ctx, src, dst, FileOptions{Force: true, Options: Options{Progress: func(w, total int64) {
		if w > 1000 {
			cancel()
		}
	}}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v", err)
	}
	before.unchanged(t, dir)
	if strings.Contains(err.Error(), ".tmp-") {
		t.Errorf("error names a temporary file: %v", err)
	}
}
