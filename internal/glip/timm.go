package glip

import (
	"regexp"
	"strconv"
	"strings"
)

// timm's SwinTransformer (timm/models/swin_transformer.py) keeps GLIP's
// own names for the patch embedding and the blocks (layers.{i}.blocks.{j}
// with norm1, attn.qkv, attn.proj, attn.relative_position_bias_table,
// norm2, mlp.fc1, mlp.fc2), GLIP's patch-merging order, and norm for the
// last stage's norm; relative_position_index is a non-persistent buffer,
// so it has no slot. timm moved the patch merging to the start of the next
// stage (layers.{i+1}.downsample); its checkpoint_filter_fn moves
// layers.{i}.downsample to layers.{i+1}.downsample in every file without
// head.fc.weight. A headless file for timm's pretrained loading must
// therefore keep the merging where GLIP has it (timmNaming); a file in the
// moved place (timmMovedNaming) is for a direct load_state_dict.
var timmNaming = newTimmNaming(0)

// timmMovedNaming is timm's naming with the patch merging at the start of
// the next stage, as timm's modules hold it.
var timmMovedNaming = newTimmNaming(1)

func newTimmNaming(shift int) *naming {
	return &naming{
		layout: LayoutTimm,
		patch: map[string]string{
			"projection.weight": "patch_embed.proj.weight",
			"projection.bias":   "patch_embed.proj.bias",
			"norm.weight":       "patch_embed.norm.weight",
			"norm.bias":         "patch_embed.norm.bias",
		},
		blockPrefix: func(i, j int) string { return "layers." + strconv.Itoa(i) + ".blocks." + strconv.Itoa(j) + "." },
		blockRe:     regexp.MustCompile(`^layers\.(\d+)\.blocks\.(\d+)\.(.+)$`),
		block: map[string][]Slot{
			"norm1.weight": {{Name: "norm1.weight"}},
			"norm1.bias":   {{Name: "norm1.bias"}},
			"attn.w_msa.relative_position_bias_table": {{Name: "attn.relative_position_bias_table"}},
			"attn.w_msa.relative_position_index":      {},
			"attn.w_msa.qkv.weight":                   {{Name: "attn.qkv.weight"}},
			"attn.w_msa.qkv.bias":                     {{Name: "attn.qkv.bias"}},
			"attn.w_msa.proj.weight":                  {{Name: "attn.proj.weight"}},
			"attn.w_msa.proj.bias":                    {{Name: "attn.proj.bias"}},
			"norm2.weight":                            {{Name: "norm2.weight"}},
			"norm2.bias":                              {{Name: "norm2.bias"}},
			"ffn.layers.0.0.weight":                   {{Name: "mlp.fc1.weight"}},
			"ffn.layers.0.0.bias":                     {{Name: "mlp.fc1.bias"}},
			"ffn.layers.1.weight":                     {{Name: "mlp.fc2.weight"}},
			"ffn.layers.1.bias":                       {{Name: "mlp.fc2.bias"}},
		},
		downPrefix: func(i int) string { return "layers." + strconv.Itoa(i+shift) + ".downsample." },
		downRe:     regexp.MustCompile(`^layers\.(\d+)\.downsample\.(.+)$`),
		downShift:  -shift,
		down: map[string]Slot{
			"reduction.weight": {Name: "reduction.weight", Op: OpMerge},
			"norm.weight":      {Name: "norm.weight", Op: OpMerge},
			"norm.bias":        {Name: "norm.bias", Op: OpMerge},
		},
		norm: lastNormOnly("norm"),
	}
}

// TimmMoved tells whether timm-named keys have the patch merging at the
// start of the next stage (no layers.0.downsample, some other
// layers.N.downsample), as timm's modules hold it after its
// checkpoint_filter_fn.
func TimmMoved(keys []string) bool {
	any := false
	for _, k := range keys {
		if strings.HasPrefix(k, "layers.0.downsample.") {
			return false
		}
		if strings.HasPrefix(k, "layers.") && strings.Contains(k, ".downsample.") {
			any = true
		}
	}
	return any
}
