package forward

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
)

// Tensors returns r's features as F32 tensors named for n inputs
// (TensorName), for a features file.
func (r *Result) Tensors(n int) ([]*ckpt.Tensor, error) {
	var out []*ckpt.Tensor
	for _, f := range r.Features {
		t, err := ckpt.FromFloat32(TensorName(r.Input, f.Stage, n), f.Shape(), f.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// WriteFeatures writes tensors as a safetensors file with metadata meta, to
// a temporary file in path's directory renamed to path; on error nothing is
// left behind.
func WriteFeatures(path string, tensors []*ckpt.Tensor, meta map[string]string) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = safetensors.Write(tmp, tensors, meta); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
