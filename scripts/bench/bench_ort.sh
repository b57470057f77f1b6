#!/usr/bin/env bash
# glipctl's forward pass against ONNX Runtime on the same weights and
# inputs, interleaved in one invocation:
#
#   Swin-T 224, one image   ms, best pass: BenchmarkForward (internal/swin)
#                           against onnxruntime-node (scripts/bench/ort_bench.mjs)
#                           on the graph torch.onnx.export (Debian's torch,
#                           opset 17) makes of torchvision's SwinTransformer
#                           with the same weights and the per-stage norms
#                           (scripts/oracles/forward_torch.py export).
#   Swin-L 384, one image   the same with Swin-L's dimensions
#                           (BenchmarkForwardL384).
#   Swin-T 224, 32 images   images/s of the best pass over a (32,3,224,224)
#                           batch: BenchmarkForwardBatch32 against ONNX
#                           Runtime on graphs for batches of 1, 8 and 32.
#   whole process           s: `glipctl forward --model W.pth --input x.npy
#                           -o F` (load, one pass, save), against the same
#                           command of glipctl built at $BASE (default
#                           50f6dde, main before the forward-speed work;
#                           BASE= skips it), interleaved round by round.
#
# ONNX Runtime gets its best of 1 and 2 intra-op threads and, for images/s,
# of its batch sizes. Each round runs every configuration of both sides one
# after the other; the figure of each is its best over $RUNS rounds (the
# machine may be shared: the load average is printed before and after, and
# the spread of each side's per-round bests). Then the per-operation
# breakdown of glipctl's fastest Swin-T and Swin-L pass
# (BenchmarkForwardProfile, swin.Options.Profile). Ratios are glipctl /
# ONNX Runtime (times: lower is better; images/s: higher is better).
#
# Usage: scripts/bench/bench_ort.sh   (RUNS=5; KEEP=DIR keeps the weights and the
#        exported graphs there, and reuses them on the next run; BASE=REV)
# Needs Go, node with `npm ci --ignore-scripts --prefix scripts`, Debian's
# python3-torch and python3-torchvision at /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
RUNS=${RUNS:-5}
BASE=${BASE-50f6dde}
work=${KEEP:-$(mktemp -d)}
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
ortv=$(node -e 'console.log(require("./scripts/node_modules/onnxruntime-node/package.json").version)')
echo "machine: $cpu, $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GB; $(go version | cut -d' ' -f3); onnxruntime-node $ortv; torch $("$PY" -c 'import torch; print(torch.__version__)')"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load before: $load_before"

"$PY" scripts/oracles/forward_torch.py make --out "$work" >/dev/null
"$PY" scripts/oracles/forward_torch.py make --out "$work" --arch L --size 384 >/dev/null
"$PY" scripts/oracles/forward_torch.py make --out "$work" --size 224 --batch 32 >/dev/null
export_graph() { # export_graph WEIGHTS OUT SIZE BATCH
	[ -s "$work/$2" ] || "$PY" scripts/oracles/forward_torch.py export --weights "$work/$1" --out "$work/$2" --size "$3" --batch "$4" >/dev/null 2>&1
}
export_graph swin_t_mm.pth t224_b1.onnx 224 1
export_graph swin_t_mm.pth t224_b8.onnx 224 8
export_graph swin_t_mm.pth t224_b32.onnx 224 32
export_graph swin_l_mm.pth l384_b1.onnx 384 1
go build -o "$work/glipctl" ./cmd/glipctl
if [ -n "$BASE" ]; then
	base_src=$(mktemp -d)
	git worktree add -q --detach "$base_src/src" "$BASE"
	(cd "$base_src/src" && go build -o "$work/glipctl-base" ./cmd/glipctl)
	git worktree remove --force "$base_src/src"
	rm -rf "$base_src"
fi
go test -c -o "$work/swin.test" ./internal/swin

# The same features? glipctl's against ONNX Runtime's (graph of batch 1).
"$work/glipctl" forward --model "$work/swin_t_mm.pth" --input "$work/x_224.npy" -o "$work/go_t.safetensors" >/dev/null
node scripts/bench/ort_bench.mjs --model "$work/t224_b1.onnx" --input "$work/x_224.npy" --repeat 0 --out "$work/ort_t.safetensors" >/dev/null
"$work/glipctl" diff "$work/go_t.safetensors" "$work/ort_t.safetensors" | tail -1

lt() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a < b)}'; }
metric() { awk -v u="$1" '{for (i = 2; i <= NF; i++) if ($i == u) print $(i-1)}' | head -1; }
declare -A best all
# keep KEY VALUE [max]: the best VALUE of KEY (lowest, or highest with max).
keep() {
	all[$1]="${all[$1]:-} $2"
	if [ -z "${best[$1]:-}" ] || { [ "${3:-}" = max ] && lt "${best[$1]}" "$2"; } || { [ "${3:-}" != max ] && lt "$2" "${best[$1]}"; }; then
		best[$1]=$2
	fi
}
gobench() { # gobench BENCH PASSES METRIC
	"$work/swin.test" -test.run '^$' -test.bench "^$1\$" -test.benchtime "${2}x" -test.count 1 | metric "$3"
}
ort() { # ort MODEL INPUT THREADS REPEAT [CHUNK]
	node scripts/bench/ort_bench.mjs --model "$work/$1" --input "$work/$2" --threads "$3" --repeat "$4" --chunk "${5:-0}" | cut -d' ' -f1
}
now() { date +%s.%N; }

for r in $(seq "$RUNS"); do
	echo "== round $r/$RUNS (load $(cut -d' ' -f1 /proc/loadavg)) ==" >&2
	keep go_t "$(gobench BenchmarkForward 10 best_ms)"
	for th in 1 2; do keep "ort_t_$th" "$(ort t224_b1.onnx x_224.npy "$th" 10)"; done
	keep go_l "$(gobench BenchmarkForwardL384 3 best_ms)"
	for th in 1 2; do keep "ort_l_$th" "$(ort l384_b1.onnx x_384.npy "$th" 3)"; done
	keep go_b "$(gobench BenchmarkForwardBatch32 2 best_img/s)" max
	for ch in 1 8 32; do
		for th in 1 2; do
			ms=$(ort "t224_b$ch.onnx" xb32_224.npy "$th" 2 "$ch")
			keep "ort_b_${ch}_$th" "$(awk -v t="$ms" 'BEGIN {printf "%.2f", 32000 / t}')" max
		done
	done
	for side in glipctl ${BASE:+glipctl-base}; do
		t0=$(now)
		"$work/$side" forward --model "$work/swin_t_mm.pth" --input "$work/x_224.npy" -o "$work/proc_$side.safetensors" >/dev/null
		keep "proc_$side" "$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}')"
		rm -f "$work/proc_$side.safetensors"
	done
	for k in "${!all[@]}"; do echo "    $k:${all[$k]}"; done | sort >&2
done

# pick PREFIX [max]: "value config" of the best ONNX Runtime configuration.
pick() {
	local k v="" c=""
	for k in "${!best[@]}"; do
		[[ $k == "$1"* ]] || continue
		if [ -z "$v" ] || { [ "${2:-}" = max ] && lt "$v" "${best[$k]}"; } || { [ "${2:-}" != max ] && lt "${best[$k]}" "$v"; }; then
			v=${best[$k]} c=${k#"$1"}
		fi
	done
	echo "$v $c"
}
spread() { # spread KEY: min-max of the per-round figures
	tr ' ' '\n' <<<"${all[$1]}" | grep . | sort -g | sed -n '1p;$p' | paste -sd- -
}
row() { printf '%-30s %10s %-30s %7s %7s  %s\n' "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }

echo
echo "machine: $cpu, $(nproc) cores; load average (1, 5, 15 min) before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
row "workload" "glipctl" "ONNX Runtime (best config)" "ratio" "target" "per-round spread (glipctl; ORT)"
read -r ov oc <<<"$(pick ort_t_)"
row "Swin-T 224, one image (ms)" "${best[go_t]}" "$ov (threads=$oc)" "$(ratio "${best[go_t]}" "$ov")" "<=0.9x" "$(spread go_t); $(spread "ort_t_$oc")"
read -r ov oc <<<"$(pick ort_l_)"
row "Swin-L 384, one image (ms)" "${best[go_l]}" "$ov (threads=$oc)" "$(ratio "${best[go_l]}" "$ov")" "<=0.9x" "$(spread go_l); $(spread "ort_l_$oc")"
read -r ov oc <<<"$(pick ort_b_ max)"
row "Swin-T 224, 32 images (img/s)" "${best[go_b]}" "$ov (batch ${oc%_*}, threads=${oc#*_})" "$(ratio "${best[go_b]}" "$ov")" ">=1.2x" "$(spread go_b); $(spread "ort_b_$oc")"
if [ -n "$BASE" ]; then
	row "glipctl forward, process (s)" "${best[proc_glipctl]}" "${best[proc_glipctl-base]} (glipctl at $BASE)" "$(ratio "${best[proc_glipctl]}" "${best[proc_glipctl-base]}")" "<=1x" "$(spread proc_glipctl); $(spread proc_glipctl-base)"
else
	row "glipctl forward, process (s)" "${best[proc_glipctl]}" "" "" "" "$(spread proc_glipctl)"
fi

echo
echo "== glipctl's fastest pass by operation (BenchmarkForwardProfile) =="
"$work/swin.test" -test.run '^$' -test.bench '^BenchmarkForwardProfile$' -test.benchtime "${PROFILE_PASSES:-5}x" -test.count 1 |
	awk '/^BenchmarkForwardProfile\// {
		for (i = 5; i < NF; i += 2) v[$(i+1)] = $i
		printf "%s (fastest pass %.1f ms)\n", $1, v["best_ms"]
		n = split("embed norm qkv attention proj fc1 fc2 merge other", ops, " ")
		for (j = 1; j <= n; j++) {
			o = ops[j]; g = v[o "_GFLOPS"]
			printf "  %-10s %9.2f ms %5.1f%%  %s\n", o, v[o "_ms"], 100 * v[o "_ms"] / v["best_ms"], g == "" ? "" : sprintf("%7.1f GFLOPS", g)
		}
	}'
