package glip

// WindowRule is the shifted-window rule a library's Swin runs: when a
// block with an odd index shifts its windows, and whether it pads the map
// to a window multiple before or after the cyclic shift. The weights are
// the same under every rule; the features are not where the rules differ.
type WindowRule struct {
	// ID names the rule in metadata (MetaWindowRule).
	ID string
	// Summary says what the library's code does, in a sentence.
	Summary string
	// SameAsGLIP is true when the rule is GLIP's on every map.
	SameAsGLIP bool
}

// The rules of the libraries glipctl writes for (docs/ecosystems.md
// cites the code of each).
var (
	// RuleGLIP is GLIP's swint.py, and mmdetection's ShiftWindowMSA:
	// pad to a window multiple, then always shift, masking on the padded
	// map.
	RuleGLIP = WindowRule{ID: "glip", Summary: "pads to a window multiple, then always shifts by window/2, masking on the padded map (GLIP's rule)", SameAsGLIP: true}
	// RuleMMPretrain is mmpretrain's SwinTransformer (pad_small_map
	// False): no shift when a map's short side equals the window, maps
	// smaller than the window refused.
	RuleMMPretrain = WindowRule{ID: "mmpretrain", Summary: "does not shift when a map's short side equals the window and refuses smaller maps; otherwise GLIP's rule"}
	// RuleHFBackbone is transformers' SwinBackbone, which runs its
	// encoder with always_partition=True: GLIP's rule.
	RuleHFBackbone = WindowRule{ID: "hf-always-partition", Summary: "SwinBackbone runs its layers with always_partition=True: pads to a window multiple, then always shifts (GLIP's rule)", SameAsGLIP: true}
	// RuleHFModel is transformers' SwinModel: set_shift_and_window_size
	// sets the shift to 0 and the window to the map when min(H, W) <=
	// window (and keeps that change for later calls).
	RuleHFModel = WindowRule{ID: "hf-clamp", Summary: "SwinLayer.set_shift_and_window_size: when min(H, W) <= window the block does not shift and its window becomes the map (the change stays on the module); pads, then shifts otherwise"}
	// RuleTimm is timm's SwinTransformer with always_partition False:
	// _calc_window_shift clamps the window to the map and drops the shift
	// per axis where the map is <= the window, and _attn rolls before it
	// pads.
	RuleTimm = WindowRule{ID: "timm-clamp", Summary: "_calc_window_shift: per axis, a map side <= window clamps the window to it and drops the shift; _attn rolls before it pads"}
	// RuleTorchvision is torchvision's shifted_window_attention: pad to a
	// window multiple, then no shift along an axis whose padded size fits
	// one window.
	RuleTorchvision = WindowRule{ID: "torchvision-clamp", Summary: "shifted_window_attention pads to a window multiple, then drops the shift along an axis whose padded size is <= the window"}
)

// WindowRuleOf returns the rule the library of layout l runs (GLIP's for
// official, mmpretrain's for mmpretrain).
func WindowRuleOf(l Layout) WindowRule {
	switch l {
	case LayoutMMPretrain:
		return RuleMMPretrain
	case LayoutHF:
		return RuleHFBackbone
	case LayoutHFModel:
		return RuleHFModel
	case LayoutTimm:
		return RuleTimm
	case LayoutTorchvision:
		return RuleTorchvision
	}
	return RuleGLIP
}
