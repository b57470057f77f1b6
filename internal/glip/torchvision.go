package glip

import (
	"fmt"
	"regexp"
	"strconv"
)

// torchvisionNaming is torchvision's SwinTransformer
// (torchvision/models/swin_transformer.py): features.0 is the patch
// embedding (Conv2d, Permute, LayerNorm), features.{2i+1} stage i's
// blocks, features.{2i+2} its PatchMerging (GLIP's concatenation order),
// norm the last stage's norm; the MLP is an nn.Sequential (Linear at 0
// and 3) and relative_position_index a persistent flattened (N*N) buffer.
// torchvision's head.{weight,bias} has no counterpart in GLIP.
var torchvisionNaming = &naming{
	layout: LayoutTorchvision,
	patch: map[string]string{
		"projection.weight": "features.0.0.weight",
		"projection.bias":   "features.0.0.bias",
		"norm.weight":       "features.0.2.weight",
		"norm.bias":         "features.0.2.bias",
	},
	blockPrefix: func(i, j int) string { return "features." + strconv.Itoa(2*i+1) + "." + strconv.Itoa(j) + "." },
	blockRe:     tvBlockRe{},
	block: map[string][]Slot{
		"norm1.weight": {{Name: "norm1.weight"}},
		"norm1.bias":   {{Name: "norm1.bias"}},
		"attn.w_msa.relative_position_bias_table": {{Name: "attn.relative_position_bias_table"}},
		"attn.w_msa.relative_position_index":      {{Name: "attn.relative_position_index", Op: OpFlatten}},
		"attn.w_msa.qkv.weight":                   {{Name: "attn.qkv.weight"}},
		"attn.w_msa.qkv.bias":                     {{Name: "attn.qkv.bias"}},
		"attn.w_msa.proj.weight":                  {{Name: "attn.proj.weight"}},
		"attn.w_msa.proj.bias":                    {{Name: "attn.proj.bias"}},
		"norm2.weight":                            {{Name: "norm2.weight"}},
		"norm2.bias":                              {{Name: "norm2.bias"}},
		"ffn.layers.0.0.weight":                   {{Name: "mlp.0.weight"}},
		"ffn.layers.0.0.bias":                     {{Name: "mlp.0.bias"}},
		"ffn.layers.1.weight":                     {{Name: "mlp.3.weight"}},
		"ffn.layers.1.bias":                       {{Name: "mlp.3.bias"}},
	},
	downPrefix: func(i int) string { return "features." + strconv.Itoa(2*i+2) + "." },
	downRe:     tvDownRe{},
	down: map[string]Slot{
		"reduction.weight": {Name: "reduction.weight", Op: OpMerge},
		"norm.weight":      {Name: "norm.weight", Op: OpMerge},
		"norm.bias":        {Name: "norm.bias", Op: OpMerge},
	},
	norm: lastNormOnly("norm"),
}

// lastNormOnly is the norm map of a layout whose only per-stage norm is
// the last stage's, named name.
func lastNormOnly(name string) func(k, stages int) string {
	return func(k, stages int) string {
		if k == stages-1 {
			return name
		}
		return ""
	}
}

// TorchvisionExtraKeys are the keys of torchvision's SwinTransformer that
// GLIP has nothing for: the classification head.
var TorchvisionExtraKeys = []string{"head.weight", "head.bias"}

var tvFeatureRe = regexp.MustCompile(`^features\.(\d+)\.(\d+)\.(.+)$`)
var tvMergeRe = regexp.MustCompile(`^features\.(\d+)\.(reduction\.weight|norm\.weight|norm\.bias)$`)

// tvBlockRe parses features.{2i+1}.{j}.rest into (i, j, rest).
type tvBlockRe struct{}

func (tvBlockRe) FindStringSubmatch(s string) []string {
	m := tvFeatureRe.FindStringSubmatch(s)
	if m == nil {
		return nil
	}
	f, _ := strconv.Atoi(m[1])
	if f%2 != 1 {
		return nil
	}
	return []string{s, strconv.Itoa((f - 1) / 2), m[2], m[3]}
}

// tvDownRe parses features.{2i+2}.rest into (i, rest).
type tvDownRe struct{}

func (tvDownRe) FindStringSubmatch(s string) []string {
	m := tvMergeRe.FindStringSubmatch(s)
	if m == nil {
		return nil
	}
	f, _ := strconv.Atoi(m[1])
	if f%2 != 0 || f < 2 {
		return nil
	}
	return []string{s, fmt.Sprint((f - 2) / 2), m[2]}
}
