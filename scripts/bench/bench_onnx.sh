#!/usr/bin/env bash
# Time ONNX Runtime on glipctl's .onnx against ONNX Runtime on
# torch.onnx.export's graph of the same weights, in the same run:
#
#   Swin-T 224   torchvision's swin_t structure (embed 96, depths 2,2,6,2)
#   Swin-L 384   a SwinTransformer with Swin-L's sizes (embed 192,
#                depths 2,2,18,2, heads 6,12,24,48, window 12)
#
# Random weights with the real dimensions (scripts/oracles/forward_torch.py make),
# mmpretrain semantics, outputs stage1-3 with their norms, one image, opset
# 17, f32. glipctl's graph: glipctl convert W.pth -o M.onnx --size S; the
# other: torchvision's SwinTransformer loaded with the same weights and
# exported by Debian's torch (scripts/bench/bench_onnx.py). Both run in
# onnxruntime-node (scripts/oracles/onnx_run.mjs, all graph optimisations), with 1
# and 2 intra-op threads; each figure is the best pass of $ROUNDS rounds of
# $REPS passes (each after a warm-up), the two graphs alternating, best of
# the thread counts. Prints the times and the ratio glipctl / torch (lower
# is better).
#
# Usage: scripts/bench/bench_onnx.sh     (ROUNDS=3, REPS=5 by default)
# Needs Go, node with `npm ci --ignore-scripts --prefix scripts`, and Debian's
# python3-torch and python3-torchvision at /usr/bin/python3.
set -euo pipefail

PY=${PYTHON:-/usr/bin/python3}
REPS=${REPS:-5}
ROUNDS=${ROUNDS:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
go build -o "$work/glipctl" ./cmd/glipctl
"$PY" scripts/oracles/forward_torch.py make --out "$work" --arch T --size 224
"$PY" scripts/oracles/forward_torch.py make --out "$work" --arch L --size 384

for m in "t 224 swin_t_mm" "l 384 swin_l_mm"; do
	set -- $m
	"$work/glipctl" convert "$work/$3.pth" -o "$work/$1_glipctl.onnx" --size "$2" --no-sync -q >/dev/null
	"$PY" scripts/bench/bench_onnx.py --weights "$work/$3.pth" --size "$2" --out "$work/$1_torch.onnx" 2>"$work/export.log" || { cat "$work/export.log" >&2; exit 1; }
	"$PY" - "$work/x_$2.npy" "$work/x_$2.f32" <<'PYEOF'
import sys, numpy as np
np.load(sys.argv[1]).astype("<f4").tofile(sys.argv[2])
PYEOF
done

# The runs of the two graphs alternate, $ROUNDS rounds, so that a change in
# the machine's load falls on both.
jobs() {
	local first=1
	printf '{"jobs": ['
	for r in $(seq "$ROUNDS"); do
		for m in "t 224" "l 384"; do
			set -- $m
			for th in 1 2; do
				order="glipctl torch"
				[ $((r % 2)) = 0 ] && order="torch glipctl"
				for g in $order; do
					[ $first = 1 ] || printf ','
					first=0
					printf '{"model": "%s", "threads": %d, "bench": %d, "runs": [{"input": "%s", "shape": [1, 3, %d, %d], "out": "%s"}]}' \
						"$work/$1_$g.onnx" "$th" "$REPS" "$work/x_$2.f32" "$2" "$2" "$1 $g $th"
				done
			done
		done
	done
	printf ']}\n'
}
jobs >"$work/jobs.json"
node scripts/oracles/onnx_run.mjs "$work/jobs.json" >"$work/times.jsonl"

"$PY" - "$work/times.jsonl" "$work" <<'PYEOF'
import json, os, sys
best = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    model, graph, threads = r["out"].split()
    t = min(r["ms"])
    k = (model, graph)
    if k not in best or t < best[k][0]:
        best[k] = (t, threads)
print(f"{'model':<12} {'glipctl graph (ms)':>20} {'torch.onnx.export (ms)':>24} {'ratio':>7}   file sizes (MB)")
for model, name in (("t", "Swin-T 224"), ("l", "Swin-L 384")):
    g, tg = best[(model, "glipctl")]
    o, to = best[(model, "torch")]
    sg = os.path.getsize(os.path.join(sys.argv[2], f"{model}_glipctl.onnx")) / 1e6
    so = os.path.getsize(os.path.join(sys.argv[2], f"{model}_torch.onnx")) / 1e6
    print(f"{name:<12} {g:>14.1f} (t={tg}) {o:>18.1f} (t={to}) {g / o:>6.2f}x   {sg:.1f} / {so:.1f}")
PYEOF
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
