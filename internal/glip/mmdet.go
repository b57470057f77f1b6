package glip

import (
	"fmt"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// mmdetection 3.x converts the whole GLIP detector with
// tools/model_converters/glip_to_mmdet.py. MMDetName is its convert(),
// rule for rule, in its order (Python's str.replace replaces every
// occurrence, as strings.ReplaceAll does):
//
//  1. a key containing "anchor_generator", "resizer" or "cls_logits" is
//     dropped;
//  2. a key containing "module.backbone.body": that becomes "backbone";
//     then "patch_embed.proj" becomes "patch_embed.projection", or else
//     "pos_drop" "drop_after_pos"; if the key has "layers": "layers"
//     becomes "stages", then "mlp.fc1" "ffn.layers.0.0", or else "mlp.fc2"
//     "ffn.layers.1", or else "attn" "attn.w_msa"; and a "downsample" key's
//     values are reordered (correct_unfold_reduction_order for
//     "reduction.", else correct_unfold_norm_order for "norm.": the
//     reorder of RemapToMMPretrain);
//  3. else a key containing "module.backbone.fpn": the key less ".weight"
//     and ".bias" is looked up in convert_dict_fpn (fpn_inner{2,3,4} ->
//     neck.lateral_convs.{0,1,2}.conv, fpn_layer{2,3,4} ->
//     neck.fpn_convs.{0,1,2}.conv, top_blocks.p6/p7 ->
//     neck.fpn_convs.{3,4}.conv); a key not in it makes the script fail
//     (KeyError), and MMDetName returns an error;
//  4. else "module.language_backbone" becomes
//     "language_model.language_backbone", and a key containing "pooler" is
//     dropped;
//  5. else a key containing "module.rpn": "module.rpn.head.scales" becomes
//     "bbox_head.head.scales", any other "module.rpn" "bbox_head";
//  6. anything else is dropped (the script prints "skip:");
//  7. then, for every kept key, "DyConv" becomes "dyconvs" and "AttnConv"
//     "attnconv".
//
// The result is a dict: a later duplicate name replaces an earlier one in
// its place. The script saves it with a plain torch.save.

var mmdetFPN = map[string]string{
	"module.backbone.fpn.fpn_inner2":    "neck.lateral_convs.0.conv",
	"module.backbone.fpn.fpn_inner3":    "neck.lateral_convs.1.conv",
	"module.backbone.fpn.fpn_inner4":    "neck.lateral_convs.2.conv",
	"module.backbone.fpn.fpn_layer2":    "neck.fpn_convs.0.conv",
	"module.backbone.fpn.fpn_layer3":    "neck.fpn_convs.1.conv",
	"module.backbone.fpn.fpn_layer4":    "neck.fpn_convs.2.conv",
	"module.backbone.fpn.top_blocks.p6": "neck.fpn_convs.3.conv",
	"module.backbone.fpn.top_blocks.p7": "neck.fpn_convs.4.conv",
}

// MMDetName maps an official GLIP key as glip_to_mmdet.py does: the new
// name, whether the key is kept, and whether its values are reordered
// (a patch-merging reduction or norm).
func MMDetName(k string) (name string, keep, reorder bool, err error) {
	if strings.Contains(k, "anchor_generator") || strings.Contains(k, "resizer") || strings.Contains(k, "cls_logits") {
		return "", false, false, nil
	}
	var n string
	switch {
	case strings.Contains(k, "module.backbone.body"):
		n = strings.ReplaceAll(k, "module.backbone.body", "backbone")
		if strings.Contains(n, "patch_embed.proj") {
			n = strings.ReplaceAll(n, "patch_embed.proj", "patch_embed.projection")
		} else if strings.Contains(n, "pos_drop") {
			n = strings.ReplaceAll(n, "pos_drop", "drop_after_pos")
		}
		if strings.Contains(n, "layers") {
			n = strings.ReplaceAll(n, "layers", "stages")
			switch {
			case strings.Contains(n, "mlp.fc1"):
				n = strings.ReplaceAll(n, "mlp.fc1", "ffn.layers.0.0")
			case strings.Contains(n, "mlp.fc2"):
				n = strings.ReplaceAll(n, "mlp.fc2", "ffn.layers.1")
			case strings.Contains(n, "attn"):
				n = strings.ReplaceAll(n, "attn", "attn.w_msa")
			}
			if strings.Contains(k, "downsample") {
				reorder = strings.Contains(k, "reduction.") || strings.Contains(k, "norm.")
			}
		}
	case strings.Contains(k, "module.backbone.fpn"):
		old := strings.ReplaceAll(strings.ReplaceAll(k, ".weight", ""), ".bias", "")
		to, ok := mmdetFPN[old]
		if !ok {
			return "", false, false, fmt.Errorf("tensor %q: glip_to_mmdet.py has no FPN rule for %q (the script fails with a KeyError)", k, old)
		}
		n = strings.ReplaceAll(k, old, to)
	case strings.Contains(k, "module.language_backbone"):
		n = strings.ReplaceAll(k, "module.language_backbone", "language_model.language_backbone")
		if strings.Contains(k, "pooler") {
			return "", false, false, nil
		}
	case strings.Contains(k, "module.rpn"):
		if strings.Contains(k, "module.rpn.head.scales") {
			n = strings.ReplaceAll(k, "module.rpn.head.scales", "bbox_head.head.scales")
		} else {
			n = strings.ReplaceAll(k, "module.rpn", "bbox_head")
		}
	default:
		return "", false, false, nil
	}
	n = strings.ReplaceAll(n, "DyConv", "dyconvs")
	n = strings.ReplaceAll(n, "AttnConv", "attnconv")
	return n, true, reorder, nil
}

// RemapToMMDet applies glip_to_mmdet.py to an official state dict
// (container prefix removed): the kept tensors, renamed (Reordered ones'
// values computed on read), in input order, and the dropped ones.
func RemapToMMDet(sd []*ckpt.Tensor) (kept []Mapping, dropped []*ckpt.Tensor, err error) {
	index := map[string]int{}
	for _, t := range sd {
		n, keep, reorder, err := MMDetName(t.Name)
		if err != nil {
			return nil, nil, err
		}
		if !keep {
			dropped = append(dropped, t)
			continue
		}
		m := Mapping{From: t.Name, To: n, Transform: renameTransform(t.Name, n), Tensor: renamed(t, n)}
		if reorder {
			mr, err := newMergeReorder(renamed(t, t.Name), false)
			if err != nil {
				return nil, nil, err
			}
			m.Tensor.Data, m.Transform = mr, Reordered
		}
		if i, dup := index[n]; dup {
			kept[i] = m
			continue
		}
		index[n] = len(kept)
		kept = append(kept, m)
	}
	return kept, dropped, nil
}

// OfficialNameOfMMDet maps a key of an mmdet GLIP checkpoint that is not
// a backbone key back to the official name: neck.* by the inverse of
// convert_dict_fpn, language_model.language_backbone.* to
// module.language_backbone.*, bbox_head.head.scales to
// module.rpn.head.scales and bbox_head.* to module.rpn.*, with "dyconvs"
// and "attnconv" back to "DyConv" and "AttnConv" in the head. ok is false
// for a key glip_to_mmdet.py does not write.
func OfficialNameOfMMDet(k string) (name string, ok bool) {
	switch {
	case strings.HasPrefix(k, "neck."):
		for from, to := range mmdetFPN {
			if r, found := strings.CutPrefix(k, to+"."); found && (r == "weight" || r == "bias") {
				return from + "." + r, true
			}
		}
		return "", false
	case strings.HasPrefix(k, "language_model.language_backbone"):
		return "module.language_backbone" + strings.TrimPrefix(k, "language_model.language_backbone"), true
	case strings.HasPrefix(k, "bbox_head."):
		n := "module.rpn." + strings.TrimPrefix(k, "bbox_head.")
		n = strings.ReplaceAll(n, "dyconvs", "DyConv")
		n = strings.ReplaceAll(n, "attnconv", "AttnConv")
		return n, true
	}
	return "", false
}
