package forward

import (
	"fmt"
	"path/filepath"

	"github.com/glipctl/glipctl/internal/preprocess"
	"github.com/glipctl/glipctl/internal/swin"
)

// Input is one input to run.
type Input struct {
	Path string
	// Label is the base name, "#N" appended when not unique.
	Label string
	// NPY marks a float32 (B, 3, H, W) normalised tensor, run as it is.
	NPY bool
}

// Inputs lists images, then .npy files, in the order given, and labels them.
func Inputs(images, npys []string) []Input {
	var in []Input
	for _, p := range images {
		in = append(in, Input{Path: p})
	}
	for _, p := range npys {
		in = append(in, Input{Path: p, NPY: true})
	}
	count := map[string]int{}
	for _, x := range in {
		count[filepath.Base(x.Path)]++
	}
	for i := range in {
		b := filepath.Base(in[i].Path)
		in[i].Label = b
		if count[b] > 1 {
			in[i].Label = fmt.Sprintf("%s#%d", b, i+1)
		}
	}
	return in
}

// TensorName is the name of input's stage-k features among n inputs.
func TensorName(in Input, k, n int) string {
	name := fmt.Sprintf("stage%d", k)
	if n > 1 {
		name = in.Label + "/" + name
	}
	return name
}

// Preprocess is how images become the model's input: decoded and resized
// as Image says (the PIL or the cv2 pipeline), then normalised per channel
// with Mean and Std in BGR order.
type Preprocess struct {
	Image     preprocess.Options
	Mean, Std [3]float32 // BGR
}

// load reads one input: a .npy tensor as is, or an image decoded, resized
// and normalised. srcSize is the image's H, W before resizing (nil for .npy).
func load(in Input, pre Preprocess, inChans int) (swin.Input, []int, error) {
	if in.NPY {
		shape, data, err := preprocess.ReadNPY(in.Path)
		if err != nil {
			return swin.Input{}, nil, err
		}
		if len(shape) != 4 || shape[0] < 1 || shape[1] != inChans || shape[2] < 1 || shape[3] < 1 {
			return swin.Input{}, nil, fmt.Errorf("%s: shape %v, want (B, %d, H, W)", in.Path, shape, inChans)
		}
		return swin.Input{N: shape[0], C: shape[1], H: shape[2], W: shape[3], Data: data}, nil, nil
	}
	if inChans != 3 {
		return swin.Input{}, nil, fmt.Errorf("%s: the model takes %d input channels, images have 3", in.Path, inChans)
	}
	p, err := preprocess.Prepare(in.Path, pre.Image)
	if err != nil {
		return swin.Input{}, nil, err
	}
	img := p.Image
	return swin.Input{N: 1, C: 3, H: img.H, W: img.W, Data: img.Normalize(pre.Mean, pre.Std)}, []int{p.SourceH, p.SourceW}, nil
}

// stack returns inputs of one shape as one batch (the input itself when
// there is one).
func stack(xs []swin.Input) swin.Input {
	if len(xs) == 1 {
		return xs[0]
	}
	x := xs[0]
	x.N = 0
	x.Data = nil
	for _, xi := range xs {
		x.N += xi.N
		x.Data = append(x.Data, xi.Data...)
	}
	return x
}

// imageFeatures returns image b of a batch's features, as a batch of one.
func imageFeatures(feats []swin.Feature, b int) []swin.Feature {
	out := make([]swin.Feature, len(feats))
	for i, f := range feats {
		per := f.C * f.H * f.W
		f.N = 1
		f.Data = f.Data[b*per : (b+1)*per]
		out[i] = f
	}
	return out
}
