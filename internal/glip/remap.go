package glip

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// Transform says what the remap did to a tensor's values.
type Transform string

// The transforms of the remap.
const (
	Kept      Transform = "kept"      // same name, same values
	Renamed   Transform = "renamed"   // new name, same values
	Reordered Transform = "reordered" // patch-merging tensor, channels permuted
)

// Mapping is one tensor carried through the remap.
type Mapping struct {
	// From is the source name; for a tensor made of several (a qkv joined
	// from query, key and value) the first of Sources.
	From      string
	To        string
	Transform Transform
	// Tensor is the output tensor (named To). For Reordered its Data
	// computes the permutation on first read.
	Tensor *ckpt.Tensor
	// Sources are the source names of a tensor made of several, in order.
	Sources []string
}

// keepForBackbone is step 1 of mmpretrain's glip_to_mmpretrain.py: keep a
// key if it contains "backbone" and neither "language_backbone" nor "fpn".
func keepForBackbone(k string) bool {
	return strings.Contains(k, "backbone") && !strings.Contains(k, "language_backbone") && !strings.Contains(k, "fpn")
}

// MMPretrainName maps an official GLIP state-dict key to its mmpretrain
// name, exactly as mmpretrain's converter does, and tells whether the key is
// kept at all and whether its values are reordered.
func MMPretrainName(k string) (name string, keep, reorder bool) {
	if !keepForBackbone(k) {
		return "", false, false
	}
	n := strings.ReplaceAll(k, "body.", "")
	n = strings.ReplaceAll(n, "module.", "")
	if strings.HasPrefix(n, "backbone.layers") {
		n = strings.ReplaceAll(n, "backbone.layers", "backbone.stages")
	}
	switch {
	case strings.Contains(n, "mlp"):
		n = strings.ReplaceAll(n, "mlp.fc1", "ffn.layers.0.0")
		n = strings.ReplaceAll(n, "mlp.fc2", "ffn.layers.1")
	case strings.Contains(n, "attn"):
		n = strings.ReplaceAll(n, "attn", "attn.w_msa")
	case strings.Contains(k, "patch_embed"):
		n = strings.ReplaceAll(n, "proj", "projection")
	case strings.Contains(n, "downsample"):
		reorder = strings.Contains(k, "reduction.") || strings.Contains(k, "norm.")
	}
	return n, true, reorder
}

// OfficialName maps an mmpretrain backbone key back to the official GLIP
// name (with the DataParallel "module." prefix), the inverse of
// MMPretrainName on every key that converter keeps. ok is false for keys
// that are not mmpretrain backbone keys.
func OfficialName(k string) (name string, ok, reorder bool) {
	rest, found := strings.CutPrefix(k, "backbone.")
	if !found {
		return "", false, false
	}
	if r, found := strings.CutPrefix(rest, "stages"); found {
		rest = "layers" + r
	}
	switch {
	case strings.Contains(rest, "ffn.layers."):
		rest = strings.ReplaceAll(rest, "ffn.layers.0.0", "mlp.fc1")
		rest = strings.ReplaceAll(rest, "ffn.layers.1", "mlp.fc2")
	case strings.Contains(rest, "attn.w_msa"):
		rest = strings.ReplaceAll(rest, "attn.w_msa", "attn")
	case strings.Contains(rest, "patch_embed"):
		rest = strings.ReplaceAll(rest, "projection", "proj")
	case strings.Contains(rest, "downsample"):
		reorder = strings.Contains(rest, "reduction.") || strings.Contains(rest, "norm.")
	}
	return "module.backbone.body." + rest, true, reorder
}

// RemapToMMPretrain applies mmpretrain's glip_to_mmpretrain.py to an
// official state dict (container prefix removed): the kept tensors, renamed
// and reordered, in input order, and the dropped ones. Values are read only
// when an output tensor is read.
func RemapToMMPretrain(sd []*ckpt.Tensor) (kept []Mapping, dropped []*ckpt.Tensor, err error) {
	return remap(sd, func(k string) (string, bool, bool) { return MMPretrainName(k) }, false)
}

// RemapToOfficial is the inverse of RemapToMMPretrain: mmpretrain backbone
// keys back to official GLIP names with the inverse reorder, so that
// official -> mmpretrain -> official is bit-exact.
func RemapToOfficial(sd []*ckpt.Tensor) (kept []Mapping, dropped []*ckpt.Tensor, err error) {
	return remap(sd, OfficialName, true)
}

func remap(sd []*ckpt.Tensor, name func(string) (string, bool, bool), inverse bool) ([]Mapping, []*ckpt.Tensor, error) {
	var kept []Mapping
	var dropped []*ckpt.Tensor
	index := map[string]int{}
	for _, t := range sd {
		n, keep, reorder := name(t.Name)
		if !keep {
			dropped = append(dropped, t)
			continue
		}
		m := Mapping{From: t.Name, To: n, Transform: Kept}
		out := *t
		out.Name = n
		out.Stored = ""
		if n != t.Name {
			m.Transform = Renamed
		}
		if reorder {
			src, err := newMergeReorder(t, inverse)
			if err != nil {
				return nil, nil, err
			}
			out.Data = src
			m.Transform = Reordered
		}
		m.Tensor = &out
		// Like a Python dict: a later duplicate replaces the value and
		// keeps the first position.
		if i, dup := index[n]; dup {
			kept[i] = m
			continue
		}
		index[n] = len(kept)
		kept = append(kept, m)
	}
	return kept, dropped, nil
}

// mergePerm is the order of the four 2x2 neighbours that converts GLIP's
// concatenation (x0, x1, x2, x3) into nn.Unfold's channel-major order; it is
// its own inverse.
var mergePerm = [4]int{0, 2, 1, 3}

// mergeReorder is the lazily computed data of a patch-merging tensor whose
// last axis (4 groups of q channels) is reordered: element (r, perm[j]*q+c)
// of the source becomes element (r, c*4+j) of the output (the inverse when
// inverse is set).
type mergeReorder struct {
	src     *ckpt.Tensor
	inverse bool
	once    sync.Once
	data    []byte
	err     error
}

func newMergeReorder(t *ckpt.Tensor, inverse bool) (*mergeReorder, error) {
	switch {
	case strings.HasSuffix(t.Name, "reduction.weight") && len(t.Shape) != 2,
		!strings.HasSuffix(t.Name, "reduction.weight") && len(t.Shape) != 1:
		return nil, fmt.Errorf("tensor %q: patch-merging tensor has shape %s, want %s", t.Name, ckpt.ShapeString(t.Shape), map[bool]string{true: "(out, in)", false: "(in)"}[strings.HasSuffix(t.Name, "reduction.weight")])
	case t.Shape[len(t.Shape)-1]%4 != 0:
		return nil, fmt.Errorf("tensor %q: width %d of a patch-merging tensor is not divisible by 4", t.Name, t.Shape[len(t.Shape)-1])
	case t.DType == ckpt.Q8_0:
		return nil, fmt.Errorf("tensor %q: cannot reorder a ckpt.Q8_0 tensor", t.Name)
	}
	return &mergeReorder{src: t, inverse: inverse}, nil
}

func (m *mergeReorder) ReadAt(p []byte, off int64) (int, error) {
	m.once.Do(m.compute)
	if m.err != nil {
		return 0, m.err
	}
	if off < 0 || off > int64(len(m.data)) {
		return 0, fmt.Errorf("tensor %q: read at %d outside %d bytes", m.src.Name, off, len(m.data))
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *mergeReorder) compute() {
	raw, err := m.src.ReadAll()
	if err != nil {
		m.err = err
		return
	}
	m.data = ReorderMerge(raw, m.src.Shape, m.src.DType.Size(), m.inverse)
}

// ReorderMerge permutes the last axis of a patch-merging tensor (C-order
// bytes raw of the given shape and element size) from GLIP's neighbour
// concatenation to nn.Unfold's channel-major order, or back when inverse.
func ReorderMerge(raw []byte, shape []int64, esize int, inverse bool) []byte {
	in := int(shape[len(shape)-1])
	q := in / 4
	rows := 1
	if len(shape) == 2 {
		rows = int(shape[0])
	}
	out := make([]byte, len(raw))
	for r := 0; r < rows; r++ {
		base := r * in * esize
		for c := 0; c < q; c++ {
			for j := 0; j < 4; j++ {
				a := (mergePerm[j]*q + c) * esize // index in GLIP order
				b := (c*4 + j) * esize            // index in Unfold order
				if inverse {
					a, b = b, a
				}
				copy(out[base+b:base+b+esize], raw[base+a:base+a+esize])
			}
		}
	}
	return out
}
