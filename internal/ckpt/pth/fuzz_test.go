package pth

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// FuzzRead feeds arbitrary bytes to the reader: it must return an error or
// a checkpoint whose every tensor reads in chunks without panicking.
func FuzzRead(f *testing.F) {
	f.Add(torchZip(&testing.T{}, stateDict("0", 4, 1, 3), map[string][]byte{"0": make([]byte, 16)}))
	f.Add([]byte{0x80, 2, '}', '.'})
	files, _ := filepath.Glob("../../../testdata/*.pth")
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
			for _, ch := range tn.Chunks(1 << 16) {
				buf := make([]byte, ch.Len)
				_ = tn.ReadChunk(ch, buf)
				break // the first chunk exercises the data path
			}
		}
	})
}
