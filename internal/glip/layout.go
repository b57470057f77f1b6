package glip

import "strings"

// Layout names the key convention of a checkpoint's state dict.
type Layout string

// The layouts glipctl recognises.
const (
	// LayoutOfficial is the GLIP repo's naming (module.backbone.body.layers...).
	LayoutOfficial Layout = "official"
	// LayoutMMPretrain is mmpretrain's naming (backbone.stages...).
	LayoutMMPretrain Layout = "mmpretrain"
	// LayoutOther is anything else.
	LayoutOther Layout = "other"
)

// DetectLayout tells the layout of a state dict from its keys (container
// prefix removed).
func DetectLayout(keys []string) Layout {
	mm := false
	for _, k := range keys {
		if strings.HasPrefix(k, "module.backbone.body.") || strings.HasPrefix(k, "backbone.body.") {
			return LayoutOfficial
		}
		if strings.HasPrefix(k, "backbone.stages.") || strings.HasPrefix(k, "backbone.patch_embed.projection.") {
			mm = true
		}
	}
	if mm {
		return LayoutMMPretrain
	}
	return LayoutOther
}
