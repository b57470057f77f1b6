#!/usr/bin/env bash
# The resize stage of each preprocessing pipeline, 640x480 BGR -> 224x224, against the
# library it reproduces, measured in this run: internal/preprocess's
# BenchmarkResize640x480To224 (its best-ms, the fastest call, over RUNS runs) against PIL's Image.resize and
# cv2.resize on the same kind of image (best of 50 calls, in each of RUNS rounds;
# cv2 both with its default thread pool and with cv2.setNumThreads(1)), all in Debian's
# /usr/bin/python3. The ratio is glipctl / library in ms (lower is better). The
# machine may be shared: the load average is printed before and after.
#
# Usage: scripts/bench/bench_preprocess.sh     (RUNS=5 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
RUNS=${RUNS:-5}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
go_out=$(go test ./internal/preprocess -run '^$' -bench 'BenchmarkResize640x480To224' -benchtime 2s -count "$RUNS")
py_out=$("$PY" - "$RUNS" <<'PYEOF'
import sys, time
import cv2
import numpy as np
from PIL import Image
runs = int(sys.argv[1])
rng = np.random.default_rng(1)
a = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
im = Image.fromarray(a[:, :, ::-1].copy(), "RGB")
def best(f):
    b = float("inf")
    for _ in range(runs):
        for _ in range(50):
            t = time.perf_counter(); f(); b = min(b, time.perf_counter() - t)
    return b * 1e3
print("pil/bilinear", best(lambda: im.resize((224, 224), Image.BILINEAR)))
print("pil/bicubic", best(lambda: im.resize((224, 224), Image.BICUBIC)))
for threads, tag in ((-1, ""), (1, "/1thread")):
    cv2.setNumThreads(threads if threads > 0 else cv2.getNumberOfCPUs())
    print("cv2/bilinear" + tag, best(lambda: cv2.resize(a, (224, 224), interpolation=cv2.INTER_LINEAR)))
    print("cv2/bicubic" + tag, best(lambda: cv2.resize(a, (224, 224), interpolation=cv2.INTER_CUBIC)))
PYEOF
)
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-14s %12s %12s %16s %8s %8s\n' pipeline "glipctl ms" "library ms" "lib 1 thread ms" ratio "ratio 1t"
for k in pil/bilinear pil/bicubic cv2/bilinear cv2/bicubic; do
	g=$(echo "$go_out" | awk -v k="$k" '$1 ~ "/"k"-" || $1 ~ "/"k"$" {for (i = 1; i < NF; i++) if ($(i+1) == "best-ms") ms = $i; if (b == "" || ms < b) b = ms} END {printf "%.3f", b}')
	l=$(echo "$py_out" | awk -v k="$k" '$1 == k {printf "%.3f", $2}')
	l1=$(echo "$py_out" | awk -v k="$k/1thread" '$1 == k {printf "%.3f", $2}')
	r=$(awk -v g="$g" -v l="$l" 'BEGIN {printf "%.2f", g/l}')
	r1=-
	[ -n "$l1" ] && r1=$(awk -v g="$g" -v l="$l1" 'BEGIN {printf "%.2f", g/l}')
	printf '%-14s %12s %12s %16s %8s %8s\n' "$k" "$g" "$l" "${l1:--}" "$r" "$r1"
done
