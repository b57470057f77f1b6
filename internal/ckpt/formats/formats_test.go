package formats

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
	"github.com/glipctl/glipctl/internal/ckpt/gguf"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
)

// TestOpenEveryFormat writes one tensor in each format and opens it by
// sniffing alone (the extensions are deliberately wrong).
func TestOpenEveryFormat(t *testing.T) {
	dir := t.TempDir()
	w, err := ckpt.FromFloat32("backbone.norm1.weight", []int64{2, 2}, []float32{1, -2, 3.5, 0})
	if err != nil {
		t.Fatal(err)
	}
	var st, gg bytes.Buffer
	if err := safetensors.Write(&st, []*ckpt.Tensor{w}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := gguf.Write(&gg, []gguf.KV{{Key: "general.architecture", Value: gguf.String("swin")}}, []*ckpt.Tensor{w}, gguf.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	files := map[ckpt.Format]string{
		ckpt.FormatSafetensors: filepath.Join(dir, "a.bin"),
		ckpt.FormatGGUF:        filepath.Join(dir, "b.bin"),
	}
	os.WriteFile(files[ckpt.FormatSafetensors], st.Bytes(), 0o644)
	os.WriteFile(files[ckpt.FormatGGUF], gg.Bytes(), 0o644)
	files[ckpt.FormatTorchZip] = ckpttest.Fixture(t, "official_small.pth")
	files[ckpt.FormatTorchLegacy] = ckpttest.Fixture(t, "official_small_legacy.pth")
	for format, path := range files {
		c, err := Open(path, ckpt.OpenOptions{})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if c.Format != format || len(c.Tensors) == 0 {
			t.Errorf("%s: opened as %s with %d tensors", path, c.Format, len(c.Tensors))
		}
		c.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pth")
	os.WriteFile(junk, []byte("\x00\x01\x02 definitely not a checkpoint"), 0o644)
	empty := filepath.Join(dir, "empty.pth")
	os.WriteFile(empty, nil, 0o644)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "absent.pth"), "absent.pth: no such file"},
		{junk, "junk.pth: not a checkpoint"},
		{empty, "empty.pth: not a checkpoint"},
		{dir, "is a directory"},
	} {
		_, err := Open(tc.path, ckpt.OpenOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
}
