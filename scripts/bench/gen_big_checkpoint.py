#!/usr/bin/python3
"""Write a large official-GLIP-layout checkpoint for benchmarks.

A real-sized Swin-T backbone (embed 96, depths 2,2,6,2, heads 3,6,12,24,
window 7) under module.backbone.body, BERT-base-sized language_backbone
tensors, fpn and rpn heads, and SGD momentum buffers for every tensor:
about 750 MB with the defaults. Values are random (seeded); only sizes
matter. Usage: /usr/bin/python3 scripts/bench/gen_big_checkpoint.py OUT.pth [--legacy]
"""
import argparse
import collections

import torch


def swin_official(embed=96, depths=(2, 2, 6, 2), heads=(3, 6, 12, 24), window=7):
    sd = collections.OrderedDict()
    p = "module.backbone.body."
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.02

    sd[p + "patch_embed.proj.weight"] = r(embed, 3, 4, 4)
    sd[p + "patch_embed.proj.bias"] = r(embed)
    sd[p + "patch_embed.norm.weight"] = 1 + r(embed)
    sd[p + "patch_embed.norm.bias"] = r(embed)
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    index = rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1]
    for i, (d, h) in enumerate(zip(depths, heads)):
        c = embed << i
        for j in range(d):
            b = f"{p}layers.{i}.blocks.{j}."
            sd[b + "norm1.weight"] = 1 + r(c)
            sd[b + "norm1.bias"] = r(c)
            sd[b + "attn.relative_position_bias_table"] = r((2 * window - 1) ** 2, h)
            sd[b + "attn.relative_position_index"] = index.clone()
            sd[b + "attn.qkv.weight"] = r(3 * c, c)
            sd[b + "attn.qkv.bias"] = r(3 * c)
            sd[b + "attn.proj.weight"] = r(c, c)
            sd[b + "attn.proj.bias"] = r(c)
            sd[b + "norm2.weight"] = 1 + r(c)
            sd[b + "norm2.bias"] = r(c)
            sd[b + "mlp.fc1.weight"] = r(4 * c, c)
            sd[b + "mlp.fc1.bias"] = r(4 * c)
            sd[b + "mlp.fc2.weight"] = r(c, 4 * c)
            sd[b + "mlp.fc2.bias"] = r(c)
        if i < len(depths) - 1:
            sd[f"{p}layers.{i}.downsample.reduction.weight"] = r(2 * c, 4 * c)
            sd[f"{p}layers.{i}.downsample.norm.weight"] = 1 + r(4 * c)
            sd[f"{p}layers.{i}.downsample.norm.bias"] = r(4 * c)
    for k in (1, 2, 3):
        sd[f"{p}norm{k}.weight"] = 1 + r(embed << k)
        sd[f"{p}norm{k}.bias"] = r(embed << k)
    lb = "module.language_backbone.body.model."
    sd[lb + "embeddings.word_embeddings.weight"] = r(30522, 768)
    sd[lb + "embeddings.position_embeddings.weight"] = r(512, 768)
    for layer in range(12):
        q = f"{lb}encoder.layer.{layer}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            sd[q + n + ".weight"] = r(768, 768)
            sd[q + n + ".bias"] = r(768)
        sd[q + "intermediate.dense.weight"] = r(3072, 768)
        sd[q + "output.dense.weight"] = r(768, 3072)
    for k in range(3):
        sd[f"module.backbone.fpn.fpn_inner{k}.weight"] = r(256, embed << (k + 1), 1, 1)
        sd[f"module.backbone.fpn.fpn_layer{k}.weight"] = r(256, 256, 3, 3)
    sd["module.rpn.head.cls_logits.weight"] = r(80, 256, 3, 3)
    return sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--legacy", action="store_true")
    a = ap.parse_args()
    model = swin_official()
    floats = [k for k, v in model.items() if v.is_floating_point()]
    state = {i: {"momentum_buffer": model[k] * 0.5} for i, k in enumerate(floats) if "language_backbone" not in k or "word_embeddings" in k}
    ckpt = {
        "model": model,
        "optimizer": {"state": state, "param_groups": [{"lr": 0.0001, "momentum": 0.9, "params": list(range(len(floats)))}]},
        "scheduler": {"last_epoch": 1000, "base_lrs": [0.0001]},
        "iteration": 1000,
    }
    torch.save(ckpt, a.out, _use_new_zipfile_serialization=not a.legacy)


if __name__ == "__main__":
    main()
