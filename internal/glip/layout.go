package glip

import (
	"fmt"
	"strings"
)

// Layout names the key convention of a checkpoint's state dict.
type Layout string

// The layouts glipctl recognises.
const (
	// LayoutOfficial is the GLIP repo's naming (module.backbone.body.layers...).
	LayoutOfficial Layout = "official"
	// LayoutMMPretrain is mmpretrain's naming (backbone.stages...), the
	// canonical names.
	LayoutMMPretrain Layout = "mmpretrain"
	// LayoutMMDet is mmdetection 3.x's GLIP detector (its
	// tools/model_converters/glip_to_mmdet.py): the backbone in
	// mmpretrain's names next to neck.*, language_model.* and bbox_head.*.
	LayoutMMDet Layout = "mmdet"
	// LayoutHF is HF transformers' SwinBackbone.
	LayoutHF Layout = "hf"
	// LayoutHFModel is HF transformers' SwinModel ("swin." prefix).
	LayoutHFModel Layout = "hf-model"
	// LayoutTimm is timm's SwinTransformer.
	LayoutTimm Layout = "timm"
	// LayoutTorchvision is torchvision's SwinTransformer.
	LayoutTorchvision Layout = "torchvision"
	// LayoutOther is anything else.
	LayoutOther Layout = "other"
)

// Layouts are the layouts a conversion can write, in the order help text
// lists them.
var Layouts = []Layout{LayoutMMPretrain, LayoutOfficial, LayoutMMDet, LayoutHF, LayoutHFModel, LayoutTimm, LayoutTorchvision}

// ParseLayout accepts a layout's name (case-insensitively).
func ParseLayout(s string) (Layout, error) {
	l := Layout(strings.ToLower(s))
	for _, k := range Layouts {
		if k == l {
			return l, nil
		}
	}
	names := make([]string, len(Layouts))
	for i, k := range Layouts {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown layout %q (want %s)", s, strings.Join(names, ", "))
}

// Ecosystem tells whether l is one of the layouts of another library's
// own Swin (hf, hf-model, timm, torchvision), whose tensors are named by
// Export and read back by Import.
func (l Layout) Ecosystem() bool {
	switch l {
	case LayoutHF, LayoutHFModel, LayoutTimm, LayoutTorchvision:
		return true
	}
	return false
}

// DetectLayout tells the layout of a state dict from its keys (container
// prefix removed): official on any key under "module.backbone.body." or
// "backbone.body."; otherwise torchvision on "features.0.0.weight",
// hf-model on a key under "swin.embeddings." or "swin.encoder.", hf on one
// under "embeddings.patch_embeddings." or "encoder.layers.", timm on
// "patch_embed.proj.weight" or a key under "layers.N.blocks.";
// mmpretrain on a key under "backbone.stages." or
// "backbone.patch_embed.projection.", mmdet when such keys come with
// neck.*, language_model.* or bbox_head.* keys.
func DetectLayout(keys []string) Layout {
	var mm, det, tv, hfm, hf, timm bool
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, "module.backbone.body.") || strings.HasPrefix(k, "backbone.body."):
			return LayoutOfficial
		case strings.HasPrefix(k, "backbone.stages.") || strings.HasPrefix(k, "backbone.patch_embed.projection."):
			mm = true
		case strings.HasPrefix(k, "neck.") || strings.HasPrefix(k, "language_model.") || strings.HasPrefix(k, "bbox_head."):
			det = true
		case k == "features.0.0.weight":
			tv = true
		case strings.HasPrefix(k, "swin.embeddings.") || strings.HasPrefix(k, "swin.encoder."):
			hfm = true
		case strings.HasPrefix(k, "embeddings.patch_embeddings.") || strings.HasPrefix(k, "encoder.layers."):
			hf = true
		case k == "patch_embed.proj.weight" || (strings.HasPrefix(k, "layers.") && strings.Contains(k, ".blocks.")):
			timm = true
		}
	}
	switch {
	case mm && det:
		return LayoutMMDet
	case mm:
		return LayoutMMPretrain
	case tv:
		return LayoutTorchvision
	case hfm:
		return LayoutHFModel
	case hf:
		return LayoutHF
	case timm:
		return LayoutTimm
	}
	return LayoutOther
}
