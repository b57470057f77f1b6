package pth

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
)

// FuzzRead feeds arbitrary bytes to the reader: it must return an error or
// a checkpoint whose every tensor has a valid description, bytes that fit
// in the file (so that reading never allocates beyond the file's size),
// chunks that cover them, and reads without panicking.
func FuzzRead(f *testing.F) {
	f.Add(torchZip(&testing.T{}, stateDict("0", 4, 1, 3), map[string][]byte{"0": make([]byte, 16)}))
	f.Add([]byte{0x80, 2, '}', '.'})
	f.Add(torchZip(&testing.T{}, viewDict("0", 1, 0, 1<<40, 0), map[string][]byte{"0": make([]byte, 4)}))
	f.Add(torchZip(&testing.T{}, viewDict("0", 4, 0, 1<<61, 0), map[string][]byte{"0": make([]byte, 16)}))
	files, _ := filepath.Glob(ckpttest.Fixture(f, "*.pth"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil && len(b) < 1<<20 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Read(bytes.NewReader(data), int64(len(data)), "fuzz.pth", ckpt.OpenOptions{})
		if err != nil {
			return
		}
		for _, tn := range c.Tensors {
			if err := tn.Check(); err != nil {
				t.Fatal(err)
			}
			n := tn.NBytes()
			if want, ok := tn.DType.Bytes(tn.Numel()); !ok || want != n || n < 0 || n > int64(len(data)) {
				t.Fatalf("tensor %q: %d elements, %d bytes in a %d-byte file", tn.Name, tn.Numel(), n, len(data))
			}
			var sum int64
			for _, ch := range tn.Chunks(1 << 16) {
				sum += ch.Len
			}
			if sum != n {
				t.Fatalf("tensor %q: chunks cover %d of %d bytes", tn.Name, sum, n)
			}
			if raw, err := tn.ReadAll(); err == nil && int64(len(raw)) != n {
				t.Fatalf("tensor %q: ReadAll gave %d bytes, want %d", tn.Name, len(raw), n)
			}
		}
	})
}
