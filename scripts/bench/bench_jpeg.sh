#!/usr/bin/env bash
# Time decoding a 4032x3024 4:2:0 quality-90 JPEG (a phone-camera size, made
# here by PIL from a seeded synthetic picture: scripts/bench/make_bench_jpeg.py)
# to 8-bit RGB:
#
#   Go      internal/jpeg Decode + RGB, all cores (scripts/bench/benchjpeg)
#   PIL     Image.open(p).convert("RGB")     (Debian's libjpeg-turbo 2.1.5)
#   OpenCV  cv2.imread(p, cv2.IMREAD_COLOR)  (the same library)
#
# The three are interleaved round by round ($RUNS rounds, default 15, after a
# warm-up) so that they share the machine's load; it prints the best time of
# each, the ratios of the bests and the median of the per-round ratios.
# (That the bytes agree is what internal/jpeg's tests check.)
#
# Usage: scripts/bench/bench_jpeg.sh [RESTART]   RESTART: also time a copy with a
#        restart marker every RESTART MCU rows (cjpeg -restart), which the
#        Go decoder splits among the cores.
# Needs Go, /usr/bin/python3 with python3-pil, python3-opencv, numpy, and
# cjpeg/djpeg (libjpeg-turbo-progs) for RESTART.
set -euo pipefail

PY=${PYTHON:-/usr/bin/python3}
RUNS=${RUNS:-15}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
(cd scripts/bench/benchjpeg && go build -o "$work/benchjpeg" .)

"$PY" scripts/bench/make_bench_jpeg.py "$work/bench.jpg"
files=("$work/bench.jpg")
if [ $# -ge 1 ]; then
	djpeg -pnm "$work/bench.jpg" >"$work/bench.ppm"
	cjpeg -quality 90 -sample 2x2 -restart "$1" "$work/bench.ppm" >"$work/bench_rst$1.jpg"
	files+=("$work/bench_rst$1.jpg")
fi

for f in "${files[@]}"; do
	echo "== $(basename "$f") ($(stat -c %s "$f") bytes)"
	"$PY" - "$f" "$work/benchjpeg" "$RUNS" <<'PY'
import statistics, subprocess, sys, time
import cv2
import numpy as np
from PIL import Image
path, helper, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
go = subprocess.Popen([helper, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
def go_once():
    go.stdin.write("\n"); go.stdin.flush()
    return float(go.stdout.readline().split()[0])
def timed(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t
pil_once = lambda: timed(lambda: Image.open(path).convert("RGB"))
cv_once = lambda: timed(lambda: cv2.imread(path, cv2.IMREAD_COLOR))
go_once(); pil_once(); cv_once()
g, p, c = [], [], []
for i in range(runs):
    for name in ("go", "pil", "cv")[i % 3:] + ("go", "pil", "cv")[:i % 3]:
        {"go": lambda: g.append(go_once()), "pil": lambda: p.append(pil_once()),
         "cv": lambda: c.append(cv_once())}[name]()
go.stdin.close(); go.wait()
print(f"Go     best {min(g)*1e3:7.1f} ms  median {statistics.median(g)*1e3:7.1f} ms")
print(f"PIL    best {min(p)*1e3:7.1f} ms  median {statistics.median(p)*1e3:7.1f} ms")
print(f"OpenCV best {min(c)*1e3:7.1f} ms  median {statistics.median(c)*1e3:7.1f} ms")
print(f"Go/PIL    best/best {min(g)/min(p):5.2f}  median of round ratios {statistics.median(a/b for a, b in zip(g, p)):5.2f}")
print(f"Go/OpenCV best/best {min(g)/min(c):5.2f}  median of round ratios {statistics.median(a/b for a, b in zip(g, c)):5.2f}")
PY
done
