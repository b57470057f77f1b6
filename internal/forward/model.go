package forward

import (
	"fmt"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/formats"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/swin"
	"github.com/glipctl/glipctl/internal/zoo"
)

// LoadModel opens a checkpoint and builds the backbone (weights copied to
// float32; the file is closed before returning). The warnings name the
// tensors of the file that glipctl cannot read and left out.
func LoadModel(path string) (*swin.Model, []string, error) {
	c, err := formats.Open(path, ckpt.OpenOptions{})
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	b, err := glip.NewBackbone(c)
	if err == nil {
		b, err = b.Require()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := swin.FromTensors(b.Tensors())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, c.UnsupportedWarnings(), nil
}

// DefaultImgSize is the input side of a model: the zoo entry's img_size
// when the architecture matches one, else 224 for window 7 and 384 for
// window 12 (the zoo's pairs).
func DefaultImgSize(a swin.Arch) (int, bool) {
	if e, ok := zoo.Match(a); ok && e.ImgSize > 0 {
		return e.ImgSize, true
	}
	switch a.Window {
	case 7:
		return 224, true
	case 12:
		return 384, true
	}
	return 0, false
}

// ModelPreprocess returns the model's mean, std (BGR) and out_indices: the
// zoo entry's when the architecture matches one, else the GLIP constants.
func ModelPreprocess(a swin.Arch) (mean, std [3]float32, outs []int) {
	mean, std, outs = glip.MeanBGR, glip.StdBGR, glip.OutIndices
	if e, ok := zoo.Match(a); ok {
		if e.Preprocess.BGR && len(e.Preprocess.Mean) == 3 && len(e.Preprocess.Std) == 3 {
			for i := 0; i < 3; i++ {
				mean[i], std[i] = float32(e.Preprocess.Mean[i]), float32(e.Preprocess.Std[i])
			}
		}
		if len(e.OutIndices) > 0 {
			outs = e.OutIndices
		}
	}
	return mean, std, outs
}
