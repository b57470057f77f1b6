#!/usr/bin/env bash
# Time `glipctl forward` against PyTorch doing the same Swin-T forward pass
# (224x224, real Swin-T dimensions, random weights, mmpretrain semantics,
# stages 1-3 with their norms), in the same run:
#
#   in process     Go: BenchmarkForward (internal/swin), best ns/op;
#                  PyTorch: scripts/oracles/forward_torch.py bench, best of
#                  torch.set_num_threads(1) and (2), torchvision's Swin
#                  and scripts/oracles/swin_ref.py, best pass of 10 after a warm-up.
#   whole process  Go: glipctl forward --model W.pth --input x.npy -o F;
#                  Python: import torch, load W.pth, forward, save features
#                  (scripts/oracles/forward_torch.py run), best of 1 and 2 threads.
#                  Each is the best wall-clock time of $RUNS runs.
#
# Both are also run with the Go kernel compiled for GOAMD64=v3 (FMA) when
# the CPU has it. The features of the two are compared with `glipctl diff`.
#
# scripts/bench/bench.sh is the summary table (it adds Swin-L 384, 32 images and
# the SGEMM); this script also times the GOAMD64=v3 build and .safetensors.
#
# Usage: scripts/bench/bench_forward.sh        (RUNS=5 by default)
# Needs Go, Debian's python3-torch and python3-torchvision at /usr/bin/python3,
# and libopenblas0-pthread (without it Debian's torch uses the reference
# BLAS and the comparison is meaningless).
set -euo pipefail

PY=${PYTHON:-/usr/bin/python3}
RUNS=${RUNS:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! ldconfig -p 2>/dev/null | grep -i openblas >/dev/null; then
	echo "warning: libopenblas not found: torch uses the reference BLAS (apt-get install libopenblas0-pthread)" >&2
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" scripts/oracles/forward_torch.py make --out "$work"
W=$work/swin_t_mm.pth
X=$work/x_224.npy

go build -o "$work/glipctl" ./cmd/glipctl
variants=("default")
if grep -qw fma /proc/cpuinfo && grep -qw avx2 /proc/cpuinfo; then
	GOAMD64=v3 go build -o "$work/glipctl-v3" ./cmd/glipctl
	variants+=("v3")
fi

now() { date +%s.%N; }
# best_wall CMD...: the best wall-clock seconds of $RUNS runs.
best_wall() {
	local best=""
	for _ in $(seq "$RUNS"); do
		local t0 t1 d
		t0=$(now)
		"$@" >/dev/null
		t1=$(now)
		d=$(echo "$t1 - $t0" | bc -l)
		if [ -z "$best" ] || [ "$(echo "$d < $best" | bc -l)" = 1 ]; then best=$d; fi
	done
	printf '%.3f' "$best"
}

echo
echo "== in process (one forward pass, ms) =="
declare -A go_ms
for v in "${variants[@]}"; do
	env=()
	[ "$v" = v3 ] && env=(GOAMD64=v3)
	ns=$(env "${env[@]}" go test -run '^$' -bench '^BenchmarkForward$' -benchtime 3x -count "$RUNS" ./internal/swin |
		awk '/^BenchmarkForward/ {print $3}' | sort -n | head -1)
	go_ms[$v]=$(echo "$ns / 1000000" | bc -l)
	printf '  glipctl (Go, GOAMD64=%s, %d goroutines): %8.1f\n' "$v" "$(nproc)" "${go_ms[$v]}"
done
torch_ms=""
for impl in torchvision ref; do
	for th in 1 2; do
		ms=$("$PY" scripts/oracles/forward_torch.py bench --weights "$W" --input "$X" --threads "$th" --impl "$impl" --repeat 10 | cut -d' ' -f1)
		printf '  PyTorch (%s, %d thread(s)):          %8.1f\n' "$impl" "$th" "$ms"
		if [ -z "$torch_ms" ] || [ "$(echo "$ms < $torch_ms" | bc -l)" = 1 ]; then torch_ms=$ms; fi
	done
done
for v in "${variants[@]}"; do
	printf '  ratio glipctl(%s) / best PyTorch: %.2fx (target <= 0.7x)\n' "$v" "$(echo "${go_ms[$v]} / $torch_ms" | bc -l)"
done

echo
echo "== whole process (load checkpoint, forward, save features; s, best of $RUNS) =="
declare -A go_s
for v in "${variants[@]}"; do
	bin=$work/glipctl
	[ "$v" = v3 ] && bin=$work/glipctl-v3
	go_s[$v]=$(best_wall "$bin" forward --model "$W" --input "$X" -o "$work/go_$v.safetensors")
	printf '  glipctl forward (GOAMD64=%s, .pth):      %6.3f\n' "$v" "${go_s[$v]}"
	s=$(best_wall "$bin" forward --model "$work/swin_t_mm.safetensors" --input "$X" -o "$work/go_st_$v.safetensors")
	printf '  glipctl forward (GOAMD64=%s, .safetensors): %6.3f\n' "$v" "$s"
done
py_s=""
for th in 1 2; do
	s=$(best_wall "$PY" scripts/oracles/forward_torch.py run --weights "$W" --input "$X" --threads "$th" --out "$work/torch.safetensors")
	printf '  python (torch, torchvision, %d thread(s)): %6.3f\n' "$th" "$s"
	if [ -z "$py_s" ] || [ "$(echo "$s < $py_s" | bc -l)" = 1 ]; then py_s=$s; fi
done
for v in "${variants[@]}"; do
	printf '  ratio glipctl(%s) / best python: %.2fx (target <= 0.25x)\n' "$v" "$(echo "${go_s[$v]} / $py_s" | bc -l)"
done

echo
echo "== same features? =="
"$work/glipctl" diff "$work/go_default.safetensors" "$work/torch.safetensors"
