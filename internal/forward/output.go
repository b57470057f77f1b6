package forward

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
	"github.com/glipctl/glipctl/internal/preprocess"
	"github.com/glipctl/glipctl/internal/swin"
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

// WriteFeatures writes tensors as a safetensors file with metadata meta.
func WriteFeatures(path string, tensors []*ckpt.Tensor, meta map[string]string) error {
	return writeFile(path, func(w io.Writer) error { return safetensors.Write(w, tensors, meta) })
}

// Batch gathers the model inputs of results (kept with
// Options.KeepInput) as one (B, C, H, W) batch; they must share C, H and W.
func Batch(results []*Result) (swin.Input, error) {
	var x swin.Input
	for i, r := range results {
		xi := r.X
		if i == 0 {
			x = swin.Input{C: xi.C, H: xi.H, W: xi.W}
		} else if xi.C != x.C || xi.H != x.H || xi.W != x.W {
			return swin.Input{}, fmt.Errorf("%s is %dx%d and %s %dx%d: one batch needs one size",
				results[0].Input.Path, x.H, x.W, r.Input.Path, xi.H, xi.W)
		}
		x.N += xi.N
		x.Data = append(x.Data, xi.Data...)
	}
	return x, nil
}

// WriteInput writes x as a float32 .npy file of shape (N, C, H, W), as
// numpy.save does.
func WriteInput(path string, x swin.Input) error {
	return writeFile(path, func(w io.Writer) error {
		return preprocess.WriteNPY(w, []int{x.N, x.C, x.H, x.W}, x.Data)
	})
}

// writeFile writes path through a temporary file in its directory, synced
// and renamed; on error nothing is left behind.
func writeFile(path string, write func(io.Writer) error) (err error) {
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
	if err = write(tmp); err != nil {
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
