// Package glip holds the rules of GLIP's Swin backbone checkpoints that do
// not depend on a file format: which naming a state dict uses, how GLIP's
// names map to mmpretrain's and back, where the backbone sits in a
// checkpoint, and the models' preprocessing constants. inspect, convert,
// forward and diff all find the backbone through NewBackbone.
//
// # Layouts
//
// A layout is the naming of a state dict (its container prefix, such as
// "model/" or "state_dict/", removed):
//   - official: the GLIP repo's checkpoints (microsoft/GLIP,
//     maskrcnn_benchmark/modeling/backbone/swint.py), keys
//     "module.backbone.body.layers.{i}.blocks.{j}.attn.qkv.weight", the
//     per-output norms "module.backbone.body.norm{k}", next to the language
//     backbone, FPN and head; "module." is DataParallel's and may be absent;
//   - mmpretrain: mmpretrain's SwinTransformer, keys
//     "backbone.stages.{i}.blocks.{j}.attn.w_msa.qkv.weight",
//     "backbone.norm{k}";
//   - mmdet: mmdetection 3.x's GLIP detector, the backbone in mmpretrain's
//     names beside neck.*, language_model.* and bbox_head.* (mmdet.go);
//   - hf, hf-model: transformers' SwinBackbone and SwinModel (hf.go);
//   - timm: timm's SwinTransformer (timm.go);
//   - torchvision: torchvision's SwinTransformer (torchvision.go);
//   - other: none of these.
//
// DetectLayout decides: any key under "module.backbone.body." or
// "backbone.body." makes a state dict official; otherwise mmpretrain's
// keys make it mmpretrain, or mmdet when neck, language-model or head keys
// come with them; otherwise torchvision's, HF's or timm's own keys name
// their layout.
//
// # Canonical names
//
// mmpretrain's names are the canonical names: every layout maps to them
// and back. Export names a canonical backbone in an ecosystem layout (hf,
// hf-model, timm, torchvision) and Import reads one back, through the
// layout's rule tables (naming.go): a rename, the patch-merging reorder
// (those libraries keep GLIP's concatenation order, the canonical values
// are in nn.Unfold's), the fused qkv split into query, key and value
// (HF), and relative_position_index flattened (torchvision) or absent
// (timm, whose buffer Import recomputes). A canonical tensor the layout has
// no slot for (GLIP's per-stage norms but the last in hf-model, timm and
// torchvision) is returned apart, for the report. LayoutKeys gives a
// layout's expected keys and shapes. ExportOptions.RGB reverses the input
// channels of the patch embedding for the RGB ecosystems, and Import undoes
// it; the metadata key MetaInputOrder records the choice and
// MetaWindowRule the library's window-shift rule (window.go).
//
// # The remap
//
// RemapToMMPretrain is mmpretrain's
// tools/model_converters/glip_to_mmpretrain.py, rule for rule, in its
// order: keep a key containing "backbone" and neither "language_backbone"
// nor "fpn"; drop "body." and "module."; "backbone.layers" becomes
// "backbone.stages"; in MLP keys "mlp.fc1" becomes "ffn.layers.0.0" and
// "mlp.fc2" "ffn.layers.1"; in attention keys "attn" becomes "attn.w_msa";
// in the patch embedding "proj" becomes "projection"; and the patch-merging
// ("downsample") reduction weight and norm have the last axis reordered:
// GLIP concatenates the four 2x2 neighbours as (x0, x1, x2, x3) where
// mmpretrain's nn.Unfold produces them channel-major in the order
// (x0, x2, x1, x3), so element (r, perm[j]*q + c) becomes (r, c*4 + j) with
// perm = (0, 2, 1, 3) and q = channels/4. Values are never changed
// otherwise; a later duplicate name replaces an earlier one in the earlier
// one's place, as a Python dict does. RemapToOfficial is the inverse, so
// official -> mmpretrain -> official is bit-exact (the keys gain
// "module.").
//
// # Preprocessing
//
// Both zoo models take BGR images in 0..255 normalised with MeanBGR and
// StdBGR (mmpretrain configs/glip, data_preprocessor with to_rgb False), and
// report the stages OutIndices (GLIP's out_indices (1, 2, 3)).
package glip

// MeanBGR and StdBGR are the GLIP models' normalisation constants, in BGR
// order on 0..255 values.
var (
	MeanBGR = [3]float32{103.53, 116.28, 123.675}
	StdBGR  = [3]float32{57.375, 57.12, 58.395}
)

// ImageNetMean and ImageNetStd are the normalisation of the RGB
// ecosystems (timm's IMAGENET_DEFAULT_MEAN and _STD, HF's and
// torchvision's defaults), in RGB order on values in [0, 1]: MeanBGR and
// StdBGR divided by 255, in reverse order.
var (
	ImageNetMean = [3]float64{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float64{0.229, 0.224, 0.225}
)

// OutIndices are the stages whose outputs (and per-output norms) GLIP
// uses: out_indices (1, 2, 3).
var OutIndices = []int{1, 2, 3}
