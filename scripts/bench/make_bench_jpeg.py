#!/usr/bin/python3
"""Write the benchmarks' phone-camera-sized JPEG: a seeded synthetic
4032x3024 picture (smooth colour waves plus noise, numpy seed 7) saved by
PIL at quality 90 with 4:2:0 sampling. Same script, same bytes.

    /usr/bin/python3 scripts/bench/make_bench_jpeg.py OUT.jpg

Used by scripts/bench/bench_jpeg.sh and scripts/bench/bench_images.sh.
"""
import sys

import numpy as np
from PIL import Image


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: /usr/bin/python3 scripts/bench/make_bench_jpeg.py OUT.jpg")
    rng = np.random.default_rng(7)
    h, w = 3024, 4032
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        fx, fy = rng.uniform(0.002, 0.02, 2)
        img[..., c] = 128 + 80 * np.sin(fx * x + c) * np.cos(fy * y)
    img += rng.normal(0, 10, img.shape).astype(np.float32)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(argv[1], quality=90, subsampling=2)


if __name__ == "__main__":
    main(sys.argv)
