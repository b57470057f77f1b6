// Package formats opens a checkpoint of any supported format, telling the
// format from the file's first bytes.
package formats

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/gguf"
	"github.com/glipctl/glipctl/internal/ckpt/onnx"
	"github.com/glipctl/glipctl/internal/ckpt/pth"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
)

// Open opens the checkpoint at path, whatever its format; a directory is
// opened as a model directory (OpenDir). The caller must Close the result.
// Only regular files are read (ckpt.OpenRegular); errors about the file's
// contents are *ckpt.FormatError.
func Open(path string, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return OpenDir(path, opts)
	}
	f, size, err := ckpt.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	c, err := Read(f, size, path, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.Closer = f
	return c, nil
}

// Read reads the checkpoint of the given size in r, whatever its format;
// name is used in errors and as Checkpoint.Path. The caller sets the
// result's Closer. Errors about the contents are *ckpt.FormatError.
func Read(r io.ReaderAt, size int64, name string, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	var head [16]byte
	n, err := r.ReadAt(head[:], 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch Detect(head[:n]) {
	case ckpt.FormatTorchZip, ckpt.FormatTorchLegacy:
		return pth.Read(r, size, name, opts)
	case ckpt.FormatSafetensors:
		return safetensors.Read(r, size, name)
	case ckpt.FormatGGUF:
		return gguf.Read(r, size, name)
	case ckpt.FormatONNX:
		c, _, err := onnx.Read(r, size, name)
		return c, err
	}
	return nil, &ckpt.FormatError{File: name, Offset: -1, Err: errors.New("not a checkpoint (unrecognised format)")}
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
	case onnx.Detect(head):
		return ckpt.FormatONNX
	}
	return ""
}
