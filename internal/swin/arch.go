// Package swin is the Swin Transformer backbone of GLIP: its architecture,
// read off a checkpoint's shapes, and its forward pass.
package swin

import (
	"fmt"
	"strings"
)

// Arch is the shape of a Swin backbone.
type Arch struct {
	EmbedDim  int   `json:"embed_dim"`
	Depths    []int `json:"depths"`
	Heads     []int `json:"heads"`
	Window    int   `json:"window"`
	PatchSize int   `json:"patch_size"`
	InChans   int   `json:"in_chans"`
	MLPRatio  int   `json:"mlp_ratio"`
}

// Dims returns the channel width of each stage.
func (a Arch) Dims() []int {
	d := make([]int, len(a.Depths))
	for i := range d {
		d[i] = a.EmbedDim << i
	}
	return d
}

// Equal reports whether a and b describe the same architecture.
func (a Arch) Equal(b Arch) bool {
	return a.String() == b.String()
}

// String formats the architecture as
// "embed 96, depths 2,2,6,2, heads 3,6,12,24, window 7".
func (a Arch) String() string {
	return fmt.Sprintf("embed %d, depths %s, heads %s, window %d", a.EmbedDim, joinInts(a.Depths), joinInts(a.Heads), a.Window)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

// ArchFromShapes reads the architecture off the shapes of an mmpretrain
// backbone state dict (names like "backbone.stages.0.blocks.1.attn.w_msa.qkv.weight";
// a missing "backbone." prefix is accepted). It fails, naming the key, when
// the shapes are inconsistent with a Swin backbone.
func ArchFromShapes(shapes map[string][]int64) (Arch, error) {
	get := func(k string) ([]int64, bool) {
		if s, ok := shapes["backbone."+k]; ok {
			return s, true
		}
		s, ok := shapes[k]
		return s, ok
	}
	var a Arch
	pe, ok := get("patch_embed.projection.weight")
	if !ok {
		return a, fmt.Errorf("no backbone.patch_embed.projection.weight: not a Swin backbone")
	}
	if len(pe) != 4 || pe[2] != pe[3] || pe[0] <= 0 {
		return a, fmt.Errorf("backbone.patch_embed.projection.weight has shape %v, want (embed, in_chans, patch, patch)", pe)
	}
	a.EmbedDim, a.InChans, a.PatchSize = int(pe[0]), int(pe[1]), int(pe[2])
	for i := 0; ; i++ {
		depth := 0
		for {
			if _, ok := get(fmt.Sprintf("stages.%d.blocks.%d.norm1.weight", i, depth)); !ok {
				break
			}
			depth++
		}
		if depth == 0 {
			break
		}
		dim := int64(a.EmbedDim) << i
		key := fmt.Sprintf("stages.%d.blocks.0.attn.w_msa.relative_position_bias_table", i)
		tbl, ok := get(key)
		if !ok || len(tbl) != 2 {
			return a, fmt.Errorf("backbone.%s: missing or not 2-D", key)
		}
		side := isqrt(tbl[0])
		if side*side != tbl[0] || side%2 == 0 {
			return a, fmt.Errorf("backbone.%s has %d rows, not (2*window-1)^2", key, tbl[0])
		}
		w := int((side + 1) / 2)
		if i == 0 {
			a.Window = w
		} else if w != a.Window {
			return a, fmt.Errorf("backbone.%s: window %d differs from stage 0's %d", key, w, a.Window)
		}
		heads := tbl[1]
		if heads <= 0 || dim%heads != 0 {
			return a, fmt.Errorf("backbone.%s: %d heads do not divide width %d", key, heads, dim)
		}
		qkv := fmt.Sprintf("stages.%d.blocks.0.attn.w_msa.qkv.weight", i)
		if s, ok := get(qkv); !ok || len(s) != 2 || s[0] != 3*dim || s[1] != dim {
			return a, fmt.Errorf("backbone.%s has shape %v, want [%d, %d]", qkv, s, 3*dim, dim)
		}
		if i == 0 {
			fc1 := "stages.0.blocks.0.ffn.layers.0.0.weight"
			s, ok := get(fc1)
			if !ok || len(s) != 2 || s[1] != dim || s[0]%dim != 0 {
				return a, fmt.Errorf("backbone.%s has shape %v, want [k*%d, %d]", fc1, s, dim, dim)
			}
			a.MLPRatio = int(s[0] / dim)
		}
		a.Depths = append(a.Depths, depth)
		a.Heads = append(a.Heads, int(heads))
	}
	if len(a.Depths) == 0 {
		return a, fmt.Errorf("no backbone.stages.0.blocks.0 tensors: not a Swin backbone")
	}
	return a, nil
}

func isqrt(n int64) int64 {
	if n <= 0 {
		return 0
	}
	r := int64(1)
	for r*r <= n {
		r++
	}
	return r - 1
}

// KeySpec is one expected tensor of a backbone.
type KeySpec struct {
	Name  string
	Shape []int64
}

// ExpectedKeys lists the tensors of an mmpretrain Swin backbone of this
// architecture with the given per-output norms (out_indices), in the order
// mmpretrain's state_dict() has them.
func (a Arch) ExpectedKeys(outIndices []int) []KeySpec {
	var ks []KeySpec
	add := func(name string, shape ...int64) { ks = append(ks, KeySpec{"backbone." + name, shape}) }
	e := int64(a.EmbedDim)
	add("patch_embed.projection.weight", e, int64(a.InChans), int64(a.PatchSize), int64(a.PatchSize))
	add("patch_embed.projection.bias", e)
	add("patch_embed.norm.weight", e)
	add("patch_embed.norm.bias", e)
	w := int64(a.Window)
	for i, depth := range a.Depths {
		c := e << i
		h := int64(a.Heads[i])
		hid := c * int64(a.MLPRatio)
		for j := 0; j < depth; j++ {
			p := fmt.Sprintf("stages.%d.blocks.%d.", i, j)
			add(p+"norm1.weight", c)
			add(p+"norm1.bias", c)
			add(p+"attn.w_msa.relative_position_bias_table", (2*w-1)*(2*w-1), h)
			add(p+"attn.w_msa.relative_position_index", w*w, w*w)
			add(p+"attn.w_msa.qkv.weight", 3*c, c)
			add(p+"attn.w_msa.qkv.bias", 3*c)
			add(p+"attn.w_msa.proj.weight", c, c)
			add(p+"attn.w_msa.proj.bias", c)
			add(p+"norm2.weight", c)
			add(p+"norm2.bias", c)
			add(p+"ffn.layers.0.0.weight", hid, c)
			add(p+"ffn.layers.0.0.bias", hid)
			add(p+"ffn.layers.1.weight", c, hid)
			add(p+"ffn.layers.1.bias", c)
		}
		if i < len(a.Depths)-1 {
			p := fmt.Sprintf("stages.%d.downsample.", i)
			add(p+"norm.weight", 4*c)
			add(p+"norm.bias", 4*c)
			add(p+"reduction.weight", 2*c, 4*c)
		}
	}
	for _, k := range outIndices {
		c := e << k
		add(fmt.Sprintf("norm%d.weight", k), c)
		add(fmt.Sprintf("norm%d.bias", k), c)
	}
	return ks
}
