#!/usr/bin/env bash
# One table of glipctl against PyTorch on this machine, all measured in this
# run (the machine may be shared: every figure is the best of several runs,
# and the load average is printed before and after):
#
#   SGEMM 1024^3          GFLOPS: internal/gemm (BenchmarkSgemm1024) against
#                         torch.mm on OpenBLAS (scripts/bench/bench_gemm.sh), best
#                         of torch.set_num_threads(1) and (2).
#   Swin-T 224, in process  ms per forward pass: BenchmarkForward (best pass)
#                         against scripts/oracles/forward_torch.py bench.
#   Swin-L 384, in process  the same with real Swin-L dimensions (embed 192,
#                         depths 2,2,18,2, heads 6,12,24,48, window 12),
#                         BenchmarkForwardL384.
#   whole process         s: `glipctl forward --model W.pth --input x.npy -o F`
#                         against `python3 forward_torch.py run` (import
#                         torch, load W.pth, forward, save the features).
#   32 images             images/s: one `glipctl forward` call with 32
#                         inputs (whole process: load the checkpoint and the
#                         32 inputs, 32 passes, save) against PyTorch in
#                         process (passes only) on the (32,3,224,224) batch,
#                         as one batch or 4 batches of 8.
#
# PyTorch is Debian's /usr/bin/python3 (python3-torch on
# libopenblas0-pthread), and always gets its best configuration of: the
# model (scripts/oracles/swin_ref.py or torchvision's SwinTransformer), threads
# (set_num_threads(1), set_num_threads(2), and set_num_threads(2) with
# OPENBLAS_NUM_THREADS=1, since set_num_threads does not bind OpenBLAS).
# Every ratio is glipctl / PyTorch in the row's unit (times: lower is
# better; GFLOPS and images/s: higher is better).
#
# Usage: scripts/bench/bench.sh     (RUNS=3 by default; KEEP=DIR keeps the work files)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
RUNS=${RUNS:-3}
work=${KEEP:-$(mktemp -d)}
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "machine: $cpu, $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GB; $(go version | cut -d' ' -f3); torch $("$PY" -c 'import torch; print(torch.__version__)')"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load before: $load_before"
if ! ldconfig -p 2>/dev/null | grep -i openblas >/dev/null; then
	echo "warning: libopenblas not found: torch uses the reference BLAS" >&2
fi

"$PY" scripts/oracles/forward_torch.py make --out "$work" >/dev/null
"$PY" scripts/oracles/forward_torch.py make --out "$work" --arch L --size 384 >/dev/null
"$PY" scripts/oracles/forward_torch.py make --out "$work" --size 224 --batch 32 >/dev/null
go build -o "$work/glipctl" ./cmd/glipctl
go test -c -o "$work/swin.test" ./internal/swin

lt() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a < b)}'; }
now() { date +%s.%N; }
# best_wall CMD...: the best wall-clock seconds of $RUNS runs.
best_wall() {
	local best="" t0 d
	for _ in $(seq "$RUNS"); do
		t0=$(now)
		"$@" >/dev/null
		d=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {print b - a}')
		if [ -z "$best" ] || lt "$d" "$best"; then best=$d; fi
	done
	echo "$best"
}
# torch_best CMD...: runs CMD (a forward_torch.py invocation without
# --threads/--impl) in every PyTorch configuration; prints "best_value config".
# With TIME=wall it takes the best wall time of the whole process, else the
# first number printed (best ms).
torch_best() {
	local best="" cfg="" v impl th ob
	for impl in ref torchvision; do
		for th in 1 2 2ob1; do
			ob=()
			[ "$th" = 2ob1 ] && ob=(OPENBLAS_NUM_THREADS=1)
			if [ "${TIME:-}" = wall ]; then
				v=$(best_wall env "${ob[@]}" "$PY" "$@" --threads "${th%ob1}" --impl "$impl")
			else
				v=$(env "${ob[@]}" "$PY" "$@" --threads "${th%ob1}" --impl "$impl" | cut -d' ' -f1)
			fi
			echo "    torch $impl threads=$th: $v" >&2
			if [ -z "$best" ] || lt "$v" "$best"; then best=$v cfg="$impl, threads=$th"; fi
		done
	done
	echo "$best|$cfg"
}
metric() { awk -v u="$1" '{for (i = 2; i <= NF; i++) if ($i == u) print $(i-1)}' | sort -g | head -1; }

rows=()
row() { rows+=("$(printf '%-34s %9s %-44s %7s %7s' "$@")"); }

echo "== SGEMM 1024^3 (scripts/bench/bench_gemm.sh) =="
g=$(scripts/bench/bench_gemm.sh "$RUNS" 20 | tee /dev/stderr)
go_gf=$(grep '^glipctl internal/gemm, all cores' <<<"$g" | awk '{print $(NF-1)}')
t1=$(grep 'set_num_threads(1)' <<<"$g" | awk '{print $(NF-1)}')
t2=$(grep 'set_num_threads(2)' <<<"$g" | awk '{print $(NF-1)}')
tb=$(awk -v a="$t1" -v b="$t2" 'BEGIN {print (a > b ? a : b)}')
row "SGEMM 1024^3 (GFLOPS)" "$go_gf" "$tb (OpenBLAS)" "$(awk -v a="$go_gf" -v b="$tb" 'BEGIN {printf "%.2fx", a / b}')" ">=0.7x"

inproc() { # inproc NAME BENCH WEIGHTS INPUT REPEAT
	echo "== $1, in process (ms) ==" >&2
	local out go_ms tb
	# As many passes as PyTorch gets in each configuration: best of REPEAT.
	out=$("$work/swin.test" -test.run '^$' -test.bench "^$2\$" -test.benchtime "${5}x" -test.count 1)
	go_ms=$(metric best_ms <<<"$out")
	echo "    glipctl: $go_ms" >&2
	tb=$(torch_best scripts/oracles/forward_torch.py bench --weights "$3" --input "$4" --repeat "$5")
	row "$1 (ms)" "$go_ms" "${tb%%|*} (${tb#*|})" "$(awk -v a="$go_ms" -v b="${tb%%|*}" 'BEGIN {printf "%.2fx", a / b}')" "<=0.7x"
}
inproc "Swin-T 224 forward" BenchmarkForward "$work/swin_t_mm.pth" "$work/x_224.npy" 10
inproc "Swin-L 384 forward" BenchmarkForwardL384 "$work/swin_l_mm.pth" "$work/x_384.npy" 3

echo "== whole process, Swin-T 224, one image (s) ==" >&2
go_s=$(best_wall "$work/glipctl" forward --model "$work/swin_t_mm.pth" --input "$work/x_224.npy" -o "$work/go.safetensors")
echo "    glipctl: $go_s" >&2
tb=$(TIME=wall torch_best scripts/oracles/forward_torch.py run --weights "$work/swin_t_mm.pth" --input "$work/x_224.npy" --out "$work/torch.safetensors")
row "glipctl forward, whole process (s)" "$(printf '%.3f' "$go_s")" "$(printf '%.3f' "${tb%%|*}") (${tb#*|})" "$(awk -v a="$go_s" -v b="${tb%%|*}" 'BEGIN {printf "%.2fx", a / b}')" "<=0.25x"
"$work/glipctl" diff "$work/go.safetensors" "$work/torch.safetensors" >&2 || true

echo "== 32 images, Swin-T 224 (images/s) ==" >&2
ins=()
for i in $(seq 0 31); do ins+=(--input "$work/xb32_224_$i.npy"); done
go_b=$(best_wall "$work/glipctl" forward --model "$work/swin_t_mm.pth" "${ins[@]}" -o "$work/go32.safetensors")
go_ips=$(awk -v t="$go_b" 'BEGIN {printf "%.2f", 32 / t}')
echo "    glipctl: $go_b s, $go_ips img/s" >&2
best_ms="" best_cfg=""
for ch in 32 8; do
	tb=$(torch_best scripts/oracles/forward_torch.py bench --weights "$work/swin_t_mm.pth" --input "$work/xb32_224.npy" --repeat 1 --chunk "$ch")
	if [ -z "$best_ms" ] || lt "${tb%%|*}" "$best_ms"; then best_ms=${tb%%|*} best_cfg="${tb#*|}, batches of $ch"; fi
done
t_ips=$(awk -v t="$best_ms" 'BEGIN {printf "%.2f", 32000 / t}')
row "32 images, Swin-T 224 (img/s)" "$go_ips" "$t_ips ($best_cfg)" "$(awk -v a="$go_ips" -v b="$t_ips" 'BEGIN {printf "%.2fx", a / b}')" ">=1.5x"

echo
echo "machine: $cpu, $(nproc) cores; load average (1, 5, 15 min) before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %9s %-44s %7s %7s\n' "workload" "glipctl" "PyTorch (best config)" "ratio" "target"
printf '%s\n' "${rows[@]}"
