package glip

import (
	"regexp"
	"strconv"
)

// HF transformers' Swin (src/transformers/models/swin/modeling_swin.py):
// embeddings.patch_embeddings.projection and embeddings.norm for the patch
// embedding; encoder.layers.{i}.blocks.{j} with layernorm_before,
// attention.self.{query,key,value} (the fused qkv split by rows),
// attention.self.relative_position_bias_table, the persistent (N, N)
// attention.self.relative_position_index, attention.output.dense,
// layernorm_after, intermediate.dense and output.dense;
// encoder.layers.{i}.downsample.{reduction,norm} in GLIP's concatenation
// order (SwinPatchMerging). SwinBackbone has a LayerNorm per output stage,
// hidden_states_norms.stage{k+1} for GLIP's norm{k}; SwinModel (loaded
// from "swin."-prefixed keys) has only layernorm, after the last stage.
func newHFNaming(l Layout, prefix string, norm func(k, stages int) string) *naming {
	p := prefix
	return &naming{
		layout: l,
		patch: map[string]string{
			"projection.weight": p + "embeddings.patch_embeddings.projection.weight",
			"projection.bias":   p + "embeddings.patch_embeddings.projection.bias",
			"norm.weight":       p + "embeddings.norm.weight",
			"norm.bias":         p + "embeddings.norm.bias",
		},
		blockPrefix: func(i, j int) string {
			return p + "encoder.layers." + strconv.Itoa(i) + ".blocks." + strconv.Itoa(j) + "."
		},
		blockRe: regexp.MustCompile(`^` + regexp.QuoteMeta(p) + `encoder\.layers\.(\d+)\.blocks\.(\d+)\.(.+)$`),
		block: map[string][]Slot{
			"norm1.weight": {{Name: "layernorm_before.weight"}},
			"norm1.bias":   {{Name: "layernorm_before.bias"}},
			"attn.w_msa.relative_position_bias_table": {{Name: "attention.self.relative_position_bias_table"}},
			"attn.w_msa.relative_position_index":      {{Name: "attention.self.relative_position_index"}},
			"attn.w_msa.qkv.weight": {
				{Name: "attention.self.query.weight", Op: OpQKV, Part: 0},
				{Name: "attention.self.key.weight", Op: OpQKV, Part: 1},
				{Name: "attention.self.value.weight", Op: OpQKV, Part: 2},
			},
			"attn.w_msa.qkv.bias": {
				{Name: "attention.self.query.bias", Op: OpQKV, Part: 0},
				{Name: "attention.self.key.bias", Op: OpQKV, Part: 1},
				{Name: "attention.self.value.bias", Op: OpQKV, Part: 2},
			},
			"attn.w_msa.proj.weight": {{Name: "attention.output.dense.weight"}},
			"attn.w_msa.proj.bias":   {{Name: "attention.output.dense.bias"}},
			"norm2.weight":           {{Name: "layernorm_after.weight"}},
			"norm2.bias":             {{Name: "layernorm_after.bias"}},
			"ffn.layers.0.0.weight":  {{Name: "intermediate.dense.weight"}},
			"ffn.layers.0.0.bias":    {{Name: "intermediate.dense.bias"}},
			"ffn.layers.1.weight":    {{Name: "output.dense.weight"}},
			"ffn.layers.1.bias":      {{Name: "output.dense.bias"}},
		},
		downPrefix: func(i int) string { return p + "encoder.layers." + strconv.Itoa(i) + ".downsample." },
		downRe:     regexp.MustCompile(`^` + regexp.QuoteMeta(p) + `encoder\.layers\.(\d+)\.downsample\.(.+)$`),
		down: map[string]Slot{
			"reduction.weight": {Name: "reduction.weight", Op: OpMerge},
			"norm.weight":      {Name: "norm.weight", Op: OpMerge},
			"norm.bias":        {Name: "norm.bias", Op: OpMerge},
		},
		norm: norm,
	}
}

// hfBackboneNaming is SwinBackbone's: GLIP's norm{k} is
// hidden_states_norms.stage{k+1} (HF's stage names count the stem as
// stage 0).
var hfBackboneNaming = newHFNaming(LayoutHF, "", func(k, _ int) string {
	return "hidden_states_norms.stage" + strconv.Itoa(k+1)
})

// hfModelNaming is SwinModel's, with the "swin." prefix of HF's
// checkpoints (base_model_prefix): only the last stage's norm has a slot
// (swin.layernorm).
var hfModelNaming = newHFNaming(LayoutHFModel, "swin.", lastNormOnly("swin.layernorm"))

// HFStageName is HF's name of GLIP's stage k (HF counts the stem as
// "stem" and the stages from 1).
func HFStageName(k int) string { return "stage" + strconv.Itoa(k+1) }
