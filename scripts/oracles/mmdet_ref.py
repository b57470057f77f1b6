#!/usr/bin/python3
"""Reference for `glipctl convert --layout mmdet`: mmdetection 3.x's
tools/model_converters/glip_to_mmdet.py (open-mmlab/mmdetection, the
version with the DyConv/AttnConv renames), re-implemented rule for rule
from that file, run on a GLIP detector checkpoint that carries a Swin
backbone, the FPN, a BERT language backbone and a DyHead/VL-fusion head.

    /usr/bin/python3 scripts/oracles/mmdet_ref.py make DIR
        # DIR/official.pth: {"model": state dict}, random small tensors
    /usr/bin/python3 scripts/oracles/mmdet_ref.py convert DIR/official.pth DIR/archive.pth
        # torch.save of convert()'s OrderedDict (plain tensors), archive
        # name "archive"

glip_to_mmdet.py's convert(ckpt), in its order, for each (k, v):
  - skip k with 'anchor_generator', 'resizer' or 'cls_logits';
  - 'module.backbone.body' in k: replace it with 'backbone';
    'patch_embed.proj' -> 'patch_embed.projection', elif 'pos_drop' ->
    'drop_after_pos'; if 'layers' in the new key: 'layers' -> 'stages',
    then 'mlp.fc1' -> 'ffn.layers.0.0', elif 'mlp.fc2' -> 'ffn.layers.1',
    elif 'attn' -> 'attn.w_msa'; if 'downsample' in k:
    correct_unfold_reduction_order(v) for 'reduction.', elif
    correct_unfold_norm_order(v) for 'norm.';
  - elif 'module.backbone.fpn' in k: convert_dict_fpn of k less '.weight'
    and '.bias';
  - elif 'module.language_backbone' in k: -> 'language_model.language_backbone',
    skip 'pooler';
  - elif 'module.rpn' in k: 'module.rpn.head.scales' ->
    'bbox_head.head.scales', else 'module.rpn' -> 'bbox_head';
  - else print 'skip:' and drop;
  - then 'DyConv' -> 'dyconvs', 'AttnConv' -> 'attnconv'; new_ckpt[new_k] = v.
main() loads checkpoint['model'] and torch.save()s the OrderedDict.
"""

import os
import sys
from collections import OrderedDict

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import swin_ref as ref  # noqa: E402

CONVERT_DICT_FPN = {
    'module.backbone.fpn.fpn_inner2': 'neck.lateral_convs.0.conv',
    'module.backbone.fpn.fpn_inner3': 'neck.lateral_convs.1.conv',
    'module.backbone.fpn.fpn_inner4': 'neck.lateral_convs.2.conv',
    'module.backbone.fpn.fpn_layer2': 'neck.fpn_convs.0.conv',
    'module.backbone.fpn.fpn_layer3': 'neck.fpn_convs.1.conv',
    'module.backbone.fpn.fpn_layer4': 'neck.fpn_convs.2.conv',
    'module.backbone.fpn.top_blocks.p6': 'neck.fpn_convs.3.conv',
    'module.backbone.fpn.top_blocks.p7': 'neck.fpn_convs.4.conv',
}


def correct_unfold_reduction_order(x):
    out_channel, in_channel = x.shape
    x = x.reshape(out_channel, 4, in_channel // 4)
    return x[:, [0, 2, 1, 3], :].transpose(1, 2).reshape(out_channel, in_channel)


def correct_unfold_norm_order(x):
    in_channel = x.shape[0]
    x = x.reshape(4, in_channel // 4)
    return x[[0, 2, 1, 3], :].transpose(0, 1).reshape(in_channel)


def convert(ckpt):
    new = OrderedDict()
    for k, v in list(ckpt.items()):
        if 'anchor_generator' in k or 'resizer' in k or 'cls_logits' in k:
            continue
        new_v = v
        if 'module.backbone.body' in k:
            nk = k.replace('module.backbone.body', 'backbone')
            if 'patch_embed.proj' in nk:
                nk = nk.replace('patch_embed.proj', 'patch_embed.projection')
            elif 'pos_drop' in nk:
                nk = nk.replace('pos_drop', 'drop_after_pos')
            if 'layers' in nk:
                nk = nk.replace('layers', 'stages')
                if 'mlp.fc1' in nk:
                    nk = nk.replace('mlp.fc1', 'ffn.layers.0.0')
                elif 'mlp.fc2' in nk:
                    nk = nk.replace('mlp.fc2', 'ffn.layers.1')
                elif 'attn' in nk:
                    nk = nk.replace('attn', 'attn.w_msa')
                if 'downsample' in k:
                    if 'reduction.' in k:
                        new_v = correct_unfold_reduction_order(v)
                    elif 'norm.' in k:
                        new_v = correct_unfold_norm_order(v)
        elif 'module.backbone.fpn' in k:
            old = k.replace('.weight', '').replace('.bias', '')
            nk = k.replace(old, CONVERT_DICT_FPN[old])
        elif 'module.language_backbone' in k:
            nk = k.replace('module.language_backbone', 'language_model.language_backbone')
            if 'pooler' in k:
                continue
        elif 'module.rpn' in k:
            if 'module.rpn.head.scales' in k:
                nk = k.replace('module.rpn.head.scales', 'bbox_head.head.scales')
            else:
                nk = k.replace('module.rpn', 'bbox_head')
        else:
            continue  # the script prints 'skip:'
        if 'DyConv' in nk:
            nk = nk.replace('DyConv', 'dyconvs')
        if 'AttnConv' in nk:
            nk = nk.replace('AttnConv', 'attnconv')
        new[nk] = new_v
    return new


def make(d):
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(11)
    rnd = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    sd = ref.random_official(16, [2, 2, 2, 2], [1, 2, 4, 8], 7, seed=5, junk=False)
    f = "module.backbone.fpn."
    for i, c in zip((2, 3, 4), (32, 64, 128)):
        sd[f"{f}fpn_inner{i}.weight"], sd[f"{f}fpn_inner{i}.bias"] = rnd(24, c, 1, 1), rnd(24)
        sd[f"{f}fpn_layer{i}.weight"], sd[f"{f}fpn_layer{i}.bias"] = rnd(24, 24, 3, 3), rnd(24)
    for p in ("p6", "p7"):
        sd[f"{f}top_blocks.{p}.weight"], sd[f"{f}top_blocks.{p}.bias"] = rnd(24, 24, 3, 3), rnd(24)
    lb = "module.language_backbone.body.model."
    sd[lb + "embeddings.position_ids"] = torch.arange(16)[None]
    sd[lb + "embeddings.word_embeddings.weight"] = rnd(50, 32)
    sd[lb + "embeddings.LayerNorm.weight"], sd[lb + "embeddings.LayerNorm.bias"] = rnd(32), rnd(32)
    sd[lb + "encoder.layer.0.attention.self.query.weight"] = rnd(32, 32)
    sd[lb + "encoder.layer.0.output.dense.bias"] = rnd(32)
    sd[lb + "pooler.dense.weight"], sd[lb + "pooler.dense.bias"] = rnd(32, 32), rnd(32)
    h = "module.rpn.head."
    sd[h + "dyhead_tower.0.DyConv.0.conv.weight"] = rnd(24, 24, 3, 3)
    sd[h + "dyhead_tower.0.DyConv.1.conv.bias"] = rnd(24)
    sd[h + "dyhead_tower.0.AttnConv.1.weight"] = rnd(1, 24, 1, 1)
    sd[h + "dyhead_tower.1.b_attn.v_proj.weight"] = rnd(24, 32)
    sd[h + "cls_logits.weight"], sd[h + "cls_logits.bias"] = rnd(4, 24, 3, 3), rnd(4)
    sd[h + "bbox_pred.weight"], sd[h + "bbox_pred.bias"] = rnd(4, 24, 3, 3), rnd(4)
    sd[h + "centerness.weight"] = rnd(1, 24, 3, 3)
    sd[h + "scales.0.scale"] = torch.tensor([1.0])
    sd[h + "dot_product_projection_text.weight"] = rnd(24, 32)
    sd["module.rpn.anchor_generator.cell_anchors.0"] = torch.tensor([[-22.0, -10.0, 25.0, 13.0]])
    sd["module.rpn.head.resizer.fc.weight"] = rnd(24, 32)
    sd["module.some_module.weight"] = rnd(3)  # the script's 'skip:'
    torch.save({"model": sd, "iteration": 5}, os.path.join(d, "official.pth"))


def main(argv):
    if argv[0] == "make":
        make(argv[1])
        return 0
    if argv[0] == "convert":
        ck = torch.load(argv[1], map_location="cpu")
        sd = ck["model"] if "model" in ck else ck
        out = convert(sd)
        # Plain, contiguous tensors, one storage each (a real checkpoint's).
        torch.save(OrderedDict((k, v.detach().clone().contiguous()) for k, v in out.items()), argv[2])
        return 0
    raise SystemExit(f"unknown command {argv[0]}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
