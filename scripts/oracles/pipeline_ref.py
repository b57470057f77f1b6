#!/usr/bin/python3
"""What PIL and OpenCV make of image files: the reference of internal/preprocess's pipelines.

    /usr/bin/python3 scripts/oracles/pipeline_ref.py JOBS.json OUTDIR

JOBS.json is a list of {"name", "image": path, "pipeline": "pil"|"cv2",
"interp": "bilinear"|"bicubic", "resize": [w, h] or null, "norm": bool}. For each job it
writes OUTDIR/{name}.bgr, the (H, W, 3) uint8 BGR pixels, row-major, and when "norm" is true
OUTDIR/{name}.f32, the (3, H, W) little-endian float32 tensor (bgr - mean) / std computed in
float32 with the GLIP constants. OUTDIR/results.json maps each name to [H, W], or to
{"error": text} when the library refuses the file. The pipelines are:

    pil: im = Image.open(path).convert("RGB")
         im = im.resize((w, h), Image.BILINEAR or Image.BICUBIC)
         bgr = np.asarray(im)[:, :, ::-1]
    cv2: bgr = cv2.imread(path, cv2.IMREAD_COLOR)
         bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_LINEAR or cv2.INTER_CUBIC)
"""
import json
import os
import sys

import cv2
import numpy as np
from PIL import Image

MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
PIL_FILTER = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
CV2_FILTER = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


_decoded = {}


def decode(path, pipeline):
    """The decoded image, once per file and pipeline (resize does not change it)."""
    key = (path, pipeline)
    if key not in _decoded:
        if pipeline == "pil":
            _decoded[key] = Image.open(path).convert("RGB")
        else:
            _decoded[key] = cv2.imread(path, cv2.IMREAD_COLOR)
    return _decoded[key]


def run(j):
    if j["pipeline"] == "pil":
        im = decode(j["image"], "pil")
        if j.get("resize"):
            im = im.resize(tuple(j["resize"]), PIL_FILTER[j["interp"]])
        return np.ascontiguousarray(np.asarray(im)[:, :, ::-1])
    bgr = decode(j["image"], "cv2")
    if bgr is None:
        raise ValueError("cv2.imread returned None")
    if j.get("resize"):
        bgr = cv2.resize(bgr, tuple(j["resize"]), interpolation=CV2_FILTER[j["interp"]])
    return np.ascontiguousarray(bgr)


def main(argv):
    jobs_path, out = argv
    with open(jobs_path) as f:
        jobs = json.load(f)
    results = {}
    for j in jobs:
        try:
            bgr = run(j)
        except Exception as e:  # the library's refusal is a result too
            results[j["name"]] = {"error": str(e)}
            continue
        assert bgr.dtype == np.uint8 and bgr.ndim == 3 and bgr.shape[2] == 3
        bgr.tofile(os.path.join(out, j["name"] + ".bgr"))
        if j.get("norm"):
            x = (bgr.astype(np.float32) - MEAN_BGR) / STD_BGR
            np.ascontiguousarray(x.transpose(2, 0, 1)).astype("<f4").tofile(os.path.join(out, j["name"] + ".f32"))
        results[j["name"]] = list(bgr.shape[:2])
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
