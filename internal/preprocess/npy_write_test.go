package preprocess

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/glipctl/glipctl/internal/oracle"
)

// TestWriteNPYMatchesNumpy: WriteNPY's bytes equal numpy.save's for the
// same float32 array, for several ranks, and read back with ReadNPY.
func TestWriteNPYMatchesNumpy(t *testing.T) {
	oracle.Require(t, "numpy")
	dir := t.TempDir()
	shapes := [][]int{{5}, {2, 3}, {1, 3, 4, 5}, {2, 3, 7, 11}, {0, 3}}
	script := `
import numpy as np, sys
d = sys.argv[1]
for i, s in enumerate([(5,), (2, 3), (1, 3, 4, 5), (2, 3, 7, 11), (0, 3)]):
    n = int(np.prod(s))
    a = (np.arange(n, dtype=np.float32) * np.float32(0.37) - np.float32(3)).reshape(s)
    np.save(f"{d}/ref{i}.npy", a)
`
	if out, err := exec.Command(oracle.Python, "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	for i, s := range shapes {
		n := 1
		for _, d := range s {
			n *= d
		}
		data := make([]float32, n)
		for j := range data {
			data[j] = float32(j)*float32(0.37) - 3
		}
		var got bytes.Buffer
		if err := WriteNPY(&got, s, data); err != nil {
			t.Fatal(err)
		}
		ref := filepath.Join(dir, "ref"+string(rune('0'+i))+".npy")
		want, err := os.ReadFile(ref)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("shape %v: %d bytes, numpy wrote %d (%q vs %q)", s, got.Len(), len(want), got.Bytes()[:min(got.Len(), 80)], want[:min(len(want), 80)])
			continue
		}
		shape, back, err := ReadNPY(ref)
		if err != nil || len(shape) != len(s) || len(back) != n {
			t.Errorf("shape %v: read back %v %d values, %v", s, shape, len(back), err)
		}
	}
	if err := WriteNPY(&bytes.Buffer{}, []int{2, 2}, make([]float32, 3)); err == nil {
		t.Error("a shape that does not hold the data was written")
	}
}
