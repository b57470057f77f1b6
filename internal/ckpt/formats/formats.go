// Package formats opens a checkpoint of any supported format, telling the
// format from the file's first bytes.
package formats

import (
	"fmt"
	"io"
	"os"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/gguf"
	"github.com/glipctl/glipctl/internal/ckpt/pth"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
)

// Open opens the checkpoint at path, whatever its format. The caller must
// Close the result.
func Open(path string, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var head [16]byte
	n, err := f.ReadAt(head[:], 0)
	f.Close()
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch Detect(head[:n]) {
	case ckpt.FormatTorchZip, ckpt.FormatTorchLegacy:
		return pth.Open(path, opts)
	case ckpt.FormatSafetensors:
		return safetensors.Open(path)
	case ckpt.FormatGGUF:
		return gguf.Open(path)
	default:
		return nil, fmt.Errorf("%s: not a checkpoint (unrecognised format)", path)
	}
}

// Detect tells a checkpoint's format from its first bytes ("" when unknown).
func Detect(head []byte) ckpt.Format {
	switch {
	case len(head) >= 4 && string(head[:4]) == "PK\x03\x04":
		return ckpt.FormatTorchZip
	case len(head) >= 4 && string(head[:4]) == "GGUF":
		return ckpt.FormatGGUF
	case len(head) >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5:
		return ckpt.FormatTorchLegacy
	case len(head) >= 9 && head[8] == '{' && head[6] == 0 && head[7] == 0:
		return ckpt.FormatSafetensors
	}
	return ""
}
