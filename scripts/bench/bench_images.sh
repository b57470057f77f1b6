#!/usr/bin/env bash
# glipctl's image path against the Python libraries it reproduces, all
# measured in this one run on this machine (which may be shared: the load
# average is printed before and after, the sides are interleaved round by
# round and every figure is the best of several):
#
#   decode 4032x3024        ms: a 4:2:0 quality-90 JPEG (a phone-camera size,
#                           scripts/bench/make_bench_jpeg.py's picture, as
#                           in scripts/bench/bench_jpeg.sh) to 8-bit
#                           RGB: internal/jpeg on all cores
#                           (scripts/bench/benchjpeg) against PIL's
#                           Image.open(p).convert("RGB") and
#                           cv2.imread(p, cv2.IMREAD_COLOR) (libjpeg-turbo
#                           with SIMD). Best of $RUNS rounds (default 15).
#   decode + resize to 224  ms: the same file through each pipeline of
#                           internal/preprocess.Prepare (scripts/bench/benchimg:
#                           read, decode, resize 224x224 bilinear) against
#                           Image.open(p).convert("RGB").resize((224, 224),
#                           BILINEAR) for pil and cv2.resize(cv2.imread(p),
#                           (224, 224), interpolation=INTER_LINEAR) for cv2.
#                           Best of $RUNS rounds, interleaved with the above.
#   32 JPEGs, whole process s: `glipctl forward -m swin_t_mm.safetensors
#                           *.jpg -o feats.safetensors` (32 camera-like
#                           640x480 quality-85 JPEGs, Swin-T of the real
#                           dimensions with random weights) against
#                           `forward_torch.py images` (import torch, load the
#                           same weights, PIL decode, resize, GLIP's BGR
#                           normalisation, torchvision's Swin-T on the batch,
#                           save), each the best wall time of $WHOLE_RUNS
#                           (default 3) interleaved rounds; Python gets the
#                           better of torch.set_num_threads(1) and (2). The
#                           two feature files are compared with glipctl diff
#                           (within 1e-4 + 1e-3|b|).
#
# The inputs are made here, seeded. Ratios are glipctl / library in ms or s
# (lower is better); "round" is the median of the per-round ratios.
#
# Usage: scripts/bench/bench_images.sh     (RUNS=15 WHOLE_RUNS=3; CHUNKS="0 8" also
#        tries PyTorch on batches of 8; KEEP=DIR keeps the work files)
# Needs Go, /usr/bin/python3 with python3-torch, python3-torchvision,
# python3-pil, python3-opencv and numpy.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
RUNS=${RUNS:-15}
WHOLE_RUNS=${WHOLE_RUNS:-3}
CHUNKS=${CHUNKS:-0}
work=${KEEP:-$(mktemp -d)}
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "machine: $cpu, $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GB; $(go version | cut -d' ' -f3); torch $("$PY" -c 'import torch; print(torch.__version__)'), PIL $("$PY" -c 'import PIL; print(PIL.__version__)'), cv2 $("$PY" -c 'import cv2; print(cv2.__version__)')"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load before: $load_before"

go build -o "$work/glipctl" ./cmd/glipctl
(cd scripts/bench/benchjpeg && go build -o "$work/benchjpeg" .)
(cd scripts/bench/benchimg && go build -o "$work/benchimg" .)
"$PY" scripts/oracles/forward_torch.py make --out "$work" >/dev/null

# The 4032x3024 picture bench_jpeg.sh times too.
"$PY" scripts/bench/make_bench_jpeg.py "$work/big.jpg"
"$PY" - "$work" <<'PY'
import os, sys
import numpy as np
from PIL import Image
out = sys.argv[1]
# 32 camera-like 640x480 pictures: smooth colour fields, a few hard-edged
# objects, sensor noise; quality 85, 4:2:0.
rng = np.random.default_rng(11)
h, w = 480, 640
y, x = np.mgrid[0:h, 0:w].astype(np.float32)
os.makedirs(f"{out}/jpegs", exist_ok=True)
for i in range(32):
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        fx, fy = rng.uniform(0.003, 0.03, 2)
        img[..., c] = 128 + 70 * np.sin(fx * x + rng.uniform(0, 6.3)) * np.cos(fy * y)
    for _ in range(4):
        x0, y0 = rng.integers(0, w - 40), rng.integers(0, h - 40)
        img[y0:y0 + rng.integers(20, 200), x0:x0 + rng.integers(20, 200)] = rng.integers(0, 256, 3)
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(f"{out}/jpegs/img_{i:02d}.jpg", quality=85, subsampling=2)
PY
echo "inputs: big.jpg $(stat -c %s "$work/big.jpg") bytes; 32 JPEGs, $(du -cb "$work"/jpegs/*.jpg | tail -1 | cut -f1) bytes"

"$PY" - "$work" "$RUNS" "$WHOLE_RUNS" "$CHUNKS" "$PY" <<'PY'
import glob, os, statistics, subprocess, sys, time
import cv2
from PIL import Image
work, runs, whole_runs, chunks, py = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(), sys.argv[5]
big = os.path.join(work, "big.jpg")

def timed(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t

dec = subprocess.Popen([os.path.join(work, "benchjpeg"), big], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
prep = subprocess.Popen([os.path.join(work, "benchimg")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
def ask(proc, line):
    proc.stdin.write(line + "\n"); proc.stdin.flush()
    return float(proc.stdout.readline().split()[0])

tasks = {
    "go decode": lambda: ask(dec, ""),
    "PIL decode": lambda: timed(lambda: Image.open(big).convert("RGB")),
    "cv2 decode": lambda: timed(lambda: cv2.imread(big, cv2.IMREAD_COLOR)),
    "go pil": lambda: ask(prep, "pil " + big),
    "PIL resize": lambda: timed(lambda: Image.open(big).convert("RGB").resize((224, 224), Image.BILINEAR)),
    "go cv2": lambda: ask(prep, "cv2 " + big),
    "cv2 resize": lambda: timed(lambda: cv2.resize(cv2.imread(big), (224, 224), interpolation=cv2.INTER_LINEAR)),
}
names = list(tasks)
for n in names:  # warm up
    tasks[n]()
t = {n: [] for n in names}
for i in range(runs):
    for n in names[i % len(names):] + names[:i % len(names)]:
        t[n].append(tasks[n]())
dec.stdin.close(); prep.stdin.close(); dec.wait(); prep.wait()

jpegs = sorted(glob.glob(os.path.join(work, "jpegs", "*.jpg")))
weights = os.path.join(work, "swin_t_mm.safetensors")
whole = {"glipctl": [os.path.join(work, "glipctl"), "forward", "-m", weights, *jpegs, "-o", os.path.join(work, "go.safetensors")]}
for th in (1, 2):
    for ch in chunks:
        cfg = f"threads={th}" + (f", batches of {ch}" if ch != "0" else "")
        whole[cfg] = [py, "scripts/oracles/forward_torch.py", "images", "--weights", weights, "--threads", str(th),
                      "--chunk", ch, "--out", os.path.join(work, f"py_{th}_{ch}.safetensors"), *jpegs]
wn = list(whole)
w = {n: [] for n in wn}
for i in range(whole_runs):
    for n in wn[i % len(wn):] + wn[:i % len(wn)]:
        w[n].append(timed(lambda: subprocess.run(whole[n], check=True, stdout=subprocess.DEVNULL)))
        print(f"    {n}: {w[n][-1]:.2f} s", file=sys.stderr)
py_cfg = min(wn[1:], key=lambda n: min(w[n]))
th, ch = py_cfg.split(",")[0].split("=")[1], (py_cfg.split("batches of ")[1] if "batches" in py_cfg else "0")
diff = subprocess.run([os.path.join(work, "glipctl"), "diff", os.path.join(work, "go.safetensors"),
                       os.path.join(work, f"py_{th}_{ch}.safetensors")], capture_output=True, text=True)

ms = lambda n: min(t[n]) * 1e3
rnd = lambda a, b: statistics.median(x / y for x, y in zip(t[a], t[b]))
rows = [
    ("decode 4032x3024 (ms)", ms("go decode"), f"{ms('PIL decode'):.1f} (PIL)", ms("go decode") / ms("PIL decode"), rnd("go decode", "PIL decode"), "<=1x (at most 2x)"),
    ("decode 4032x3024 (ms)", ms("go decode"), f"{ms('cv2 decode'):.1f} (cv2.imread)", ms("go decode") / ms("cv2 decode"), rnd("go decode", "cv2 decode"), ""),
    ("decode + resize 224, pil (ms)", ms("go pil"), f"{ms('PIL resize'):.1f} (PIL)", ms("go pil") / ms("PIL resize"), rnd("go pil", "PIL resize"), ""),
    ("decode + resize 224, cv2 (ms)", ms("go cv2"), f"{ms('cv2 resize'):.1f} (cv2)", ms("go cv2") / ms("cv2 resize"), rnd("go cv2", "cv2 resize"), ""),
]
gw, pw = min(w["glipctl"]), min(w[py_cfg])
print()
print(f"{'workload':<32} {'glipctl':>9}  {'library / Python (best config)':<36} {'ratio':>6} {'round':>6}  target")
for name, g, ref, r, m, tgt in rows:
    print(f"{name:<32} {g:9.1f}  {ref:<36} {r:5.2f}x {m:5.2f}x  {tgt}")
print(f"{'32 JPEGs, whole process (s)':<32} {gw:9.2f}  {f'{pw:.2f} (PIL + torch, {py_cfg})':<36} {gw / pw:5.2f}x {'':>6}  <=0.33x (3x faster)")
print(f"32 JPEGs: Python / glipctl = {pw / gw:.2f}x; all configs (best s): " +
      ", ".join(f"{n} {min(w[n]):.2f}" for n in wn))
print(f"features: glipctl diff go.safetensors py.safetensors (exit {diff.returncode}): {diff.stdout.strip().splitlines()[-1] if diff.stdout.strip() else diff.stderr.strip()}")
PY
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
