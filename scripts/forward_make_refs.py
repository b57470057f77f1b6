#!/usr/bin/python3
"""Make the forward-pass parity fixtures the Go tests compare against.

    /usr/bin/python3 scripts/forward_make_refs.py --out DIR [--no-crosscheck]

Writes into DIR, for a Swin-T-shaped model "t" (window 7, embed 32, depths
2,2,6,2, heads 1,2,4,8) and a Swin-L-shaped model "l" (window 12, embed 24,
depths 2,2,4,2, heads 2,4,8,16), random non-trivial weights:

  {m}_official.pth          official GLIP layout ({"model": ..., "iteration"}),
                            module.backbone.body.* plus non-backbone tensors
  t_official_legacy.pth     the same, torch's legacy (pre-1.6) serialization
  {m}_mm.pth                mmpretrain layout ({"state_dict": ..., "meta": ...})
  {m}_mm.safetensors        mmpretrain layout, F32 (index buffers I64)
  t_mm_f16.safetensors, t_mm_bf16.safetensors   the same weights in F16 / BF16
  x_{H}x{W}[_b2].npy        float32 (B,3,H,W) inputs, already normalised
  ref_*.safetensors         stage{K} features (f32, computed in float64 by
                            scripts/swin_ref.py from the weights as stored)
  manifest.json             the cases: model, weights, semantics, input, and
                            either ref or error_stage (mmpretrain refusals)

Before writing, it cross-checks scripts/swin_ref.py against torchvision with
these very weights on the sizes where torchvision's shift rule agrees
(docs/glip.md section 7). Deterministic: same script, same bytes.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swin_ref as ref  # noqa: E402

MODELS = {
    # Swin-T's depths and head width (32), a third of its embed dim.
    "t": dict(embed=32, depths=[2, 2, 6, 2], heads=[1, 2, 4, 8], window=7, seed=101),
    # Swin-L's window and depth pattern (stage 2 cut from 18 to 4 blocks), an
    # eighth of its embed dim.
    "l": dict(embed=24, depths=[2, 2, 4, 2], heads=[2, 4, 8, 16], window=12, seed=202),
}

# (model, weights, semantics, (H, W), batch)
CASES = [
    ("t", "f32", "mmpretrain", (224, 224), 1),
    ("t", "f32", "mmpretrain", (228, 260), 1),
    ("t", "f32", "mmpretrain", (230, 227), 1),
    ("t", "f32", "mmpretrain", (224, 224), 2),
    ("t", "f32", "mmpretrain", (160, 96), 1),  # refused: stage 2
    ("t", "f32", "mmpretrain", (100, 130), 1),  # refused: stage 3
    ("t", "f32", "mmpretrain", (37, 53), 1),  # refused: stage 1
    ("t", "f32", "glip", (224, 224), 1),
    ("t", "f32", "glip", (160, 96), 1),
    ("t", "f32", "glip", (100, 130), 1),
    ("t", "f32", "glip", (37, 53), 1),
    ("t", "f32", "glip", (230, 227), 1),
    ("t", "f16", "glip", (100, 130), 1),
    ("t", "f16", "mmpretrain", (224, 224), 1),
    ("t", "bf16", "glip", (37, 53), 1),
    ("t", "bf16", "mmpretrain", (228, 260), 1),
    ("l", "f32", "mmpretrain", (384, 384), 1),
    ("l", "f32", "mmpretrain", (416, 392), 1),
    ("l", "f32", "mmpretrain", (224, 224), 1),  # refused: stage 3
    ("l", "f32", "glip", (384, 384), 1),
    ("l", "f32", "glip", (160, 96), 1),
    ("l", "f32", "glip", (100, 130), 1),
    ("l", "f32", "glip", (37, 53), 1),
]

CROSSCHECK = {"t": [(224, 224), (228, 260), (230, 227)], "l": [(384, 384), (416, 392)]}

WEIGHT_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--no-crosscheck", action="store_true")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    manifest = {"models": {}, "cases": []}
    official = {}
    for m, cfg in MODELS.items():
        sd = ref.random_official(cfg["embed"], cfg["depths"], cfg["heads"], cfg["window"], seed=cfg["seed"])
        official[m] = sd
        if not a.no_crosscheck:
            ref.crosscheck(sd, CROSSCHECK[m], log=lambda s: print(s, file=sys.stderr))
        mm = ref.official_to_mmpretrain(sd)
        torch.save({"model": sd, "iteration": 90000}, os.path.join(a.out, f"{m}_official.pth"))
        if m == "t":
            torch.save({"model": sd, "iteration": 90000}, os.path.join(a.out, f"{m}_official_legacy.pth"),
                       _use_new_zipfile_serialization=False)
        torch.save({"state_dict": mm, "meta": {"note": "glipctl forward fixture"}}, os.path.join(a.out, f"{m}_mm.pth"))
        ref.save_safetensors(os.path.join(a.out, f"{m}_mm.safetensors"), mm)
        manifest["models"][m] = {k: v for k, v in cfg.items() if k != "seed"}
        if m == "t":
            for wd in ("f16", "bf16"):
                ref.save_safetensors(os.path.join(a.out, f"t_mm_{wd}.safetensors"),
                                     {k: v.to(WEIGHT_DTYPES[wd]) if v.is_floating_point() else v for k, v in mm.items()})
    inputs = {}
    for (m, wd, sem, (h, w), b) in CASES:
        name = f"x_{h}x{w}" + (f"_b{b}" if b > 1 else "") + ".npy"
        if name not in inputs:
            g = torch.Generator().manual_seed(h * 1000 + w + 7 * b)
            x = (1.2 * torch.randn(b, 3, h, w, generator=g)).float()
            np.save(os.path.join(a.out, name), x.numpy())
            inputs[name] = x
        x = inputs[name]
        mm = ref.official_to_mmpretrain(official[m])
        sd = {k: v.to(WEIGHT_DTYPES[wd]).double() if v.is_floating_point() else v for k, v in mm.items()}
        case = {"model": m, "weights": wd, "semantics": sem, "input": name, "size": [h, w], "batch": b}
        try:
            with torch.no_grad():
                outs, _ = ref.forward(sd, x.double(), sem, (1, 2, 3))
        except ref.SmallMapError as e:
            case["error_stage"] = e.stage
        else:
            rname = f"ref_{m}_{wd}_{sem}_{h}x{w}" + (f"_b{b}" if b > 1 else "") + ".safetensors"
            ref.save_safetensors(os.path.join(a.out, rname), {f"stage{k}": v.float() for k, v in outs.items()})
            case["ref"] = rname
        manifest["cases"].append(case)
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
