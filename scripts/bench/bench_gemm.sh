#!/usr/bin/env bash
# Compares glipctl's SGEMM (internal/gemm) with torch's float32 matmul
# (Debian /usr/bin/python3, torch 1.13 on OpenBLAS from
# libopenblas0-pthread) on the 1024x1024x1024 product, in one run:
# GFLOPS of each and the ratio. The machine is shared with other work, so
# each side is timed call by call, ROUNDS times, interleaved, and the best
# call counts; the load (uptime) is printed before and after.
#
# Usage: scripts/bench/bench_gemm.sh [ROUNDS] [CALLS]    (defaults 3 rounds of 30 calls)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
calls=${2:-30}
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go test -c -o "$work/gemm.test" ./internal/gemm
"$py" -c 'import torch' 2>/dev/null || { echo "bench_gemm: $py has no torch (apt-get install python3-torch libopenblas0-pthread)" >&2; exit 1; }

metric() { # metric NAME: the value of unit NAME on a benchmark line
	awk -v u="$1" '{for (i = 2; i <= NF; i++) if ($i == u) print $(i-1)}'
}
kv() { grep -o "$1=[0-9.]*" | cut -d= -f2; }
better() { awk -v a="$1" -v b="$2" 'BEGIN {print (b > a ? b : a)}'; }

go_all=0 go_one=0 t1=0 t2=0 ob1=0
echo "load before: $(uptime)"
for r in $(seq "$rounds"); do
	out=$("$work/gemm.test" -test.run '^$' -test.bench '^BenchmarkSgemm1024$|^BenchmarkSgemm1024Threads$/^avx2/workers=1$' -test.benchtime "${calls}x")
	g=$(grep '^BenchmarkSgemm1024-' <<<"$out" | metric best_GFLOPS)
	g1=$(grep 'workers=1' <<<"$out" | metric best_GFLOPS || true)
	tout=$("$py" scripts/bench/bench_gemm.py "$calls")
	blas=$(head -1 <<<"$tout")
	a=$(grep 'threads=1 ' <<<"$tout" | kv best_GFLOPS)
	b=$(grep 'threads=2 ' <<<"$tout" | kv best_GFLOPS)
	# OpenBLAS on one thread (torch.set_num_threads does not bind it).
	o=$(OPENBLAS_NUM_THREADS=1 "$py" scripts/bench/bench_gemm.py "$calls" | grep 'threads=1 ' | kv best_GFLOPS)
	echo "round $r: glipctl ${g} (1 goroutine ${g1:-n/a}), torch threads=1 ${a}, threads=2 ${b}, OpenBLAS 1 thread ${o} GFLOPS  [$(cut -d, -f3- <<<"$(uptime)" | sed 's/^ *//')]"
	go_all=$(better "$go_all" "$g"); go_one=$(better "$go_one" "${g1:-0}")
	t1=$(better "$t1" "$a"); t2=$(better "$t2" "$b"); ob1=$(better "$ob1" "$o")
done
echo "load after: $(uptime)"
echo "$blas"
torch_best=$(better "$t1" "$t2")
printf '%-44s %8s GFLOPS\n' "glipctl internal/gemm, all cores" "$go_all" \
	"torch.mm set_num_threads(1)" "$t1" "torch.mm set_num_threads(2)" "$t2"
printf 'ratio glipctl / torch (best of both settings): %s\n' "$(awk -v a="$go_all" -v b="$torch_best" 'BEGIN {printf "%.2f", a / b}')"
printf '%-44s %8s GFLOPS\n' "glipctl, 1 goroutine" "$go_one" "OpenBLAS, OPENBLAS_NUM_THREADS=1" "$ob1"
printf 'ratio on one core: %s\n' "$(awk -v a="$go_one" -v b="$ob1" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
