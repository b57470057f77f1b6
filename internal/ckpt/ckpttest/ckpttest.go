// Package ckpttest holds the helpers that tests of every checkpoint package
// share: where the committed fixtures are, and tensor-by-tensor equality.
// It is imported by tests only.
package ckpttest

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/oracle"
)

// Fixture returns the path of a file under the repository's testdata/
// directory, wherever the calling package sits.
func Fixture(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{oracle.RepoRoot(t), "testdata"}, elem...)...)
}

// ReadAll returns a tensor's C-order bytes, failing t on error.
func ReadAll(t testing.TB, x *ckpt.Tensor) []byte {
	t.Helper()
	b, err := x.ReadAll()
	if err != nil {
		t.Fatalf("reading %s: %v", x.Name, err)
	}
	return b
}

// SameTensors fails t unless got and want hold the same tensors in the same
// order: names, dtypes, shapes and bytes. what prefixes the messages.
func SameTensors(t testing.TB, what string, got, want []*ckpt.Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) {
			t.Fatalf("%s: tensor %d is %q %s %v, want %q %s %v", what, i, g.Name, g.DType, g.Shape, w.Name, w.DType, w.Shape)
		}
		if !bytes.Equal(ReadAll(t, g), ReadAll(t, w)) {
			t.Fatalf("%s: tensor %q: bytes differ", what, w.Name)
		}
	}
}
