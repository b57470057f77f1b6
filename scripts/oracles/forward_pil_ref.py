#!/usr/bin/python3
"""What PIL + numpy make of images: the preprocessing reference for glipctl.

    /usr/bin/python3 scripts/oracles/forward_pil_ref.py JOBS.json OUTDIR

JOBS.json is a list of {"image": path, "resize": [w, h] or null, "name": str}.
For each job it writes OUTDIR/{name}_bgr.npy, the (H, W, 3) BGR pixels as
float32 (0..255), and OUTDIR/{name}_norm.npy, the (1, 3, H, W) float32 input
tensor, computed as the reference pipeline does:

    im = Image.open(path).convert("RGB")
    im = im.resize((w, h), Image.BILINEAR)          # when resize is given
    bgr = np.asarray(im)[:, :, ::-1]
    x = (bgr.astype(np.float32) - mean) / std       # float32 mean/std, BGR
    x = x.transpose(2, 0, 1)[None]
"""
import json
import os
import sys

import numpy as np
from PIL import Image

MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)


def main(argv):
    jobs_path, out = argv
    with open(jobs_path) as f:
        jobs = json.load(f)
    for j in jobs:
        im = Image.open(j["image"]).convert("RGB")
        if j.get("resize"):
            im = im.resize(tuple(j["resize"]), Image.BILINEAR)
        bgr = np.ascontiguousarray(np.asarray(im)[:, :, ::-1])
        x = (bgr.astype(np.float32) - MEAN_BGR) / STD_BGR
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        np.save(os.path.join(out, j["name"] + "_bgr.npy"), bgr.astype(np.float32))
        np.save(os.path.join(out, j["name"] + "_norm.npy"), x.astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
