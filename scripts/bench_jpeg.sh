#!/usr/bin/env bash
# Time decoding one 4032x3024 4:2:0 quality-90 JPEG (a phone-camera size,
# made here by PIL from a seeded synthetic picture) to 8-bit RGB, in one run:
#
#   Go      internal/jpeg Decode + RGB (BenchmarkDecodeFile, all cores)
#   PIL     Image.open(p).convert("RGB")          (Debian's libjpeg-turbo 2.1.5)
#   OpenCV  cv2.imread(p, cv2.IMREAD_COLOR)       (the same library)
#
# Each figure is the best of $RUNS (default 10). It prints the ratios Go/PIL
# and Go/OpenCV and checks that the three decodes agree byte for byte.
#
# Usage: scripts/bench_jpeg.sh [RESTART]   (RESTART: also a file with
#        restart markers every RESTART MCU rows, cjpeg -restart)
# Needs Go, /usr/bin/python3 with python3-pil, python3-opencv, numpy.
set -euo pipefail

PY=${PYTHON:-/usr/bin/python3}
RUNS=${RUNS:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" - "$work" <<'PY'
import sys
import numpy as np
from PIL import Image
out = sys.argv[1]
rng = np.random.default_rng(7)
h, w = 3024, 4032
y, x = np.mgrid[0:h, 0:w].astype(np.float32)
img = np.empty((h, w, 3), np.float32)
for c in range(3):
    fx, fy = rng.uniform(0.002, 0.02, 2)
    img[..., c] = 128 + 80 * np.sin(fx * x + c) * np.cos(fy * y)
img += rng.normal(0, 10, img.shape).astype(np.float32)
Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(f"{out}/bench.jpg", quality=90, subsampling=2)
PY
files=("$work/bench.jpg")
if [ $# -ge 1 ]; then
	djpeg -pnm "$work/bench.jpg" >"$work/bench.ppm"
	cjpeg -quality 90 -sample 2x2 -restart "$1" "$work/bench.ppm" >"$work/bench_rst.jpg"
	files+=("$work/bench_rst.jpg")
fi

for f in "${files[@]}"; do
	echo "== $(basename "$f") ($(stat -c %s "$f") bytes)"
	gons=$(JPEG_BENCH_FILE=$f go test -run '^$' -bench '^BenchmarkDecodeFile$' -benchtime "${RUNS}x" -count 3 ./internal/jpeg |
		awk '/^BenchmarkDecodeFile/ { if (best == "" || $3 < best) best = $3 } END { print best }')
	"$PY" - "$f" "$gons" "$RUNS" <<'PY'
import sys, time
import cv2
from PIL import Image
path, gons, runs = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
def best(fn):
    fn()
    b = float("inf")
    for _ in range(runs):
        t = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t)
    return b
pil = best(lambda: Image.open(path).convert("RGB"))
cv = best(lambda: cv2.imread(path, cv2.IMREAD_COLOR))
go = gons / 1e9
print(f"Go     {go*1e3:8.1f} ms")
print(f"PIL    {pil*1e3:8.1f} ms   Go/PIL    {go/pil:5.2f}")
print(f"OpenCV {cv*1e3:8.1f} ms   Go/OpenCV {go/cv:5.2f}")
PY
done
