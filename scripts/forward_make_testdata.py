#!/usr/bin/python3
"""Regenerate testdata/forward/: the small committed fixtures of `glipctl forward`.

    /usr/bin/python3 scripts/forward_make_testdata.py [--out testdata/forward]

A tiny Swin (embed 8, depths 2,2,2,2, heads 1,2,4,8, window 7; random
non-trivial weights), a PNG and an input tensor, and the features
scripts/swin_ref.py computes (float64, stored as F32) for them:

  tiny_official.pth        official GLIP layout {"model": ...} (with non-backbone keys)
  tiny_mm.safetensors      the same weights converted to mmpretrain names
  scene.png                a 120x90 RGB image
  x_37x53.npy              float32 (1,3,37,53) normalised input
  ref_png_glip_noresize.safetensors   scene.png, no resize, glip semantics
  ref_png_mmpretrain_224.safetensors  scene.png resized to 224x224 (PIL
                                      bilinear), mmpretrain semantics
  ref_x_glip.safetensors              x_37x53.npy, glip semantics
  ref_x_glip_out013.safetensors       x_37x53.npy, glip, out_indices 0,1,3

The PNG is preprocessed exactly as scripts/forward_pil_ref.py does (PIL
convert("RGB"), BGR, float32 (x - mean) / std). Deterministic.
"""
import argparse
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swin_ref as ref  # noqa: E402


def pil_input(path, size=None):
    im = Image.open(path).convert("RGB")
    if size:
        im = im.resize(size, Image.BILINEAR)
    bgr = np.asarray(im)[:, :, ::-1].astype(np.float32)
    x = (bgr - np.array(ref.MEAN_BGR, np.float32)) / np.array(ref.STD_BGR, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "forward"))
    a = ap.parse_args(argv)
    out = a.out
    os.makedirs(out, exist_ok=True)
    sd = ref.random_official(8, [2, 2, 2, 2], [1, 2, 4, 8], 7, seed=7)
    torch.save({"model": sd, "iteration": 1}, os.path.join(out, "tiny_official.pth"))
    mm = ref.official_to_mmpretrain(sd)
    ref.save_safetensors(os.path.join(out, "tiny_mm.safetensors"), mm)
    mm64 = {k: v.double() if v.is_floating_point() else v for k, v in mm.items()}

    yy, xx = np.mgrid[0:90, 0:120]
    img = np.stack([(xx * 2 + yy) % 256, (yy * 3 + (xx // 10) * 20) % 256, 255 - (xx + yy) % 256], -1)
    img[30:60, 40:80] = [250, 30, 40]
    Image.fromarray(img.astype(np.uint8), "RGB").save(os.path.join(out, "scene.png"))

    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 3, 37, 53, generator=g).float()
    np.save(os.path.join(out, "x_37x53.npy"), x.numpy())

    def run(name, inp, sem, outs=(1, 2, 3)):
        with torch.no_grad():
            feats, _ = ref.forward(mm64, inp.double(), sem, outs)
        ref.save_safetensors(os.path.join(out, name), {f"stage{k}": feats[k].float() for k in outs})

    png = os.path.join(out, "scene.png")
    run("ref_png_glip_noresize.safetensors", pil_input(png), "glip")
    run("ref_png_mmpretrain_224.safetensors", pil_input(png, (224, 224)), "mmpretrain")
    run("ref_x_glip.safetensors", x, "glip")
    run("ref_x_glip_out013.safetensors", x, "glip", (0, 1, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
