package pth

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
)

// TestTruncated cuts real torch.save files at many offsets: every cut must
// give a one-line error naming the file, never a panic and never a
// checkpoint that reads.
func TestTruncated(t *testing.T) {
	for _, name := range []string{"official_small.pth", "official_small_legacy.pth", "views.pth", "official_small_f16.pth"} {
		full, err := os.ReadFile(ckpttest.Fixture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		step := max(len(full)/300, 1)
		cuts := []int{0, 1, 2, 3, 4, 10, 64, len(full) - 1, len(full) - 22, len(full) - 23}
		for c := 5; c < len(full); c += step {
			cuts = append(cuts, c)
		}
		for _, cut := range cuts {
			b := full[:cut]
			c, err := Read(bytes.NewReader(b), int64(len(b)), name, ckpt.OpenOptions{})
			if err == nil {
				// A cut may only succeed if every tensor still reads.
				for _, tn := range c.Tensors {
					if _, rerr := tn.ReadAll(); rerr != nil {
						err = rerr
						break
					}
				}
				if err == nil {
					t.Errorf("%s cut at %d of %d: read without error", name, cut, len(full))
				}
				continue
			}
			if msg := err.Error(); !strings.HasPrefix(msg, name+": ") || strings.Contains(msg, "\n") {
				t.Errorf("%s cut at %d: error %q is not one line naming the file", name, cut, msg)
			}
		}
	}
}
