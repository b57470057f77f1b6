package forward

import (
	"context"
	"fmt"
	"io"

	"github.com/glipctl/glipctl/internal/atomicfile"
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

// WriteFeatures writes tensors as a safetensors file with metadata meta
// to an atomicfile that replaces path when committed; the caller commits
// it (with the run's other outputs) or aborts it.
func WriteFeatures(ctx context.Context, path string, tensors []*ckpt.Tensor, meta map[string]string) (*atomicfile.File, error) {
	return writeFile(ctx, path, func(w io.Writer) error { return safetensors.Write(w, tensors, meta) })
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
// numpy.save does, to an uncommitted atomicfile (see WriteFeatures).
func WriteInput(ctx context.Context, path string, x swin.Input) (*atomicfile.File, error) {
	return writeFile(ctx, path, func(w io.Writer) error {
		return preprocess.WriteNPY(w, []int{x.N, x.C, x.H, x.W}, x.Data)
	})
}

// writeFile writes path's new content through write into an atomicfile
// that replaces path when committed; on error nothing is left.
func writeFile(ctx context.Context, path string, write func(io.Writer) error) (*atomicfile.File, error) {
	f, err := atomicfile.Create(ctx, path, atomicfile.Options{Replace: true})
	if err != nil {
		return nil, err
	}
	if err := write(f); err != nil {
		f.Abort()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
