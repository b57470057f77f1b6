// Package formats opens a checkpoint of any supported format, telling the
// format from the file's first bytes.
package formats

import (
	"errors"
	"fmt"
	"io"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/gguf"
	"github.com/glipctl/glipctl/internal/ckpt/pth"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
)

// Open opens the checkpoint at path, whatever its format. The caller must
// Close the result. Only regular files are read (ckpt.OpenRegular); errors
// about the file's contents are *ckpt.FormatError.
func Open(path string, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	f, size, err := ckpt.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	var head [16]byte
	n, err := f.ReadAt(head[:], 0)
	if err != nil && err != io.EOF {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var c *ckpt.Checkpoint
	switch Detect(head[:n]) {
	case ckpt.FormatTorchZip, ckpt.FormatTorchLegacy:
		c, err = pth.Read(f, size, path, opts)
	case ckpt.FormatSafetensors:
		c, err = safetensors.Read(f, size, path)
	case ckpt.FormatGGUF:
		c, err = gguf.Read(f, size, path)
	default:
		err = &ckpt.FormatError{File: path, Offset: -1, Err: errors.New("not a checkpoint (unrecognised format)")}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	c.Closer = f
	return c, nil
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
