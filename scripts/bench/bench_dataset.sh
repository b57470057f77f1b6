#!/usr/bin/env bash
# Does decoding overlap the forward pass? glipctl forward --files-from on N
# camera-like JPEGs (decoded, resized to 224 and normalised by the PIL
# pipeline, in the same process) against the same run on the N tensors it
# was fed (.npy inputs, already preprocessed: nothing to decode). Prints
# images/s of both and their ratio (target: JPEGs at least 0.95x the
# tensors). Real Swin-T dimensions, random weights
# (scripts/oracles/forward_torch.py make).
#
#   scripts/bench/bench_dataset.sh [N] [ROUNDS]     (defaults 32 images, 3 rounds; best of ROUNDS, interleaved)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-32}
rounds=${2:-3}
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
PY=/usr/bin/python3
go build -o "$work/glipctl" ./cmd/glipctl
"$PY" scripts/oracles/forward_torch.py make --out "$work" >/dev/null
"$PY" - "$work" "$n" <<'PYEOF'
import sys, numpy as np
from PIL import Image
d, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(11)
y, x = np.mgrid[0:480, 0:640]
for i in range(n):
    img = np.stack([x * 0.4 + 40 * np.sin(y / (20.0 + i)), y * 0.5 + 30 * np.cos(x / (15.0 + i)), (x + y) * 0.2], -1)
    img = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(f"{d}/img{i:03d}.jpg", quality=85)
PYEOF
ls "$work"/img*.jpg >"$work/jpegs.txt"
# The tensors the model is fed, one .npy per image (glipctl forward --save-input).
while read -r f; do
	"$work/glipctl" forward -m "$work/swin_t_mm.safetensors" "$f" --save-input "${f%.jpg}.npy" >/dev/null 2>&1
done <"$work/jpegs.txt"
ls "$work"/img*.npy >"$work/tensors.txt"
best() { # best wall time of the command over the rounds done so far, in $1
	local var=$1
	shift
	local t0 t1 dt
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	dt=$(echo "$t1 - $t0" | bc -l)
	if [ -z "${!var:-}" ] || (($(echo "$dt < ${!var}" | bc -l))); then
		printf -v "$var" '%s' "$dt"
	fi
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
	rm -rf "$work/oj" "$work/ot"
	best tj "$work/glipctl" forward -m "$work/swin_t_mm.safetensors" --files-from "$work/jpegs.txt" --out-dir "$work/oj"
	best tt "$work/glipctl" forward -m "$work/swin_t_mm.safetensors" --files-from "$work/tensors.txt" --out-dir "$work/ot"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%d JPEGs (640x480 q85, PIL pipeline): %.2f s, %.2f img/s\n' "$n" "$tj" "$(echo "$n / $tj" | bc -l)"
printf '%d tensors (.npy, preprocessed):      %.2f s, %.2f img/s\n' "$n" "$tt" "$(echo "$n / $tt" | bc -l)"
printf 'JPEGs / tensors throughput: %.3fx (target >= 0.95x)\n' "$(echo "$tt / $tj" | bc -l)"
