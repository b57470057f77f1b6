#!/usr/bin/env bash
# Runs the tests of the arm64 NEON code (internal/gemm's kernel and GELU,
# internal/swin's softmax exponentials, a few forward-pass cases) on an
# emulated arm64 CPU, for machines (like ours) that are not arm64: the test
# binaries are cross-built with GOARCH=arm64 CGO_ENABLED=0 (static) and run
# under qemu-user (Debian's qemu-user-static).
#
#   1. On this amd64 machine, internal/gemm's TestSameBitsAcrossArchitectures
#      writes the avx2 kernel's results on every test shape to a file, and
#      internal/swin's TestExpSameBitsAcrossArchitectures the AVX2 softmax
#      exponentials' to another.
#   2. Under qemu-aarch64-static: the whole internal/gemm suite (-short),
#      whose TestSameBitsAcrossArchitectures compares the neon kernel's
#      results with that file bit for bit; the neon kernel against the
#      float64 reference on the shapes -short skips but the largest; then
#      GLIPCTL_GEMM=go selects the portable kernel.
#   3. Under qemu-aarch64-static: internal/swin's exponential tests (the
#      NEON results compared with the second file bit for bit), the
#      forward-pass determinism tests and three parity cases against the
#      torch references (37x53, f32 and bf16 weights, and the mmpretrain
#      error case).
#
# It fails unless the binaries are arm64 executables, every step passed,
# the neon kernel was the one chosen, and the bit comparison and the parity
# cases ran (not skipped). Emulated times mean nothing for speed. About
# 2-3 minutes on a 2-core machine.
#
# Needs: Linux amd64 with AVX2+FMA (for the reference), go, qemu-aarch64-static
# (apt-get install qemu-user-static), and for the parity cases what the
# native parity tests need (Debian's python3-torch, python3-torchvision).
#
# Usage: scripts/ci/arm64_emulated.sh
# Environment: KEEP_WORK=1 keeps the work directory (binaries and logs).
# Exit status: 0 only when everything above held; 1 otherwise.
set -euo pipefail

t_start=$(date +%s)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

fail() {
	echo "arm64_emulated: $*" >&2
	exit 1
}

qemu=$(command -v qemu-aarch64-static || true)
[[ -n $qemu ]] || fail "qemu-aarch64-static not found (apt-get install qemu-user-static)"
[[ $(go env GOHOSTARCH) == amd64 ]] || fail "the avx2 references need an amd64 host, this is $(go env GOHOSTARCH)"

work=$(mktemp -d "${TMPDIR:-/tmp}/glipctl-arm64.XXXXXX")
if [[ ${KEEP_WORK:-} == 1 ]]; then
	echo "arm64_emulated: work directory $work"
else
	trap 'rm -rf "$work"' EXIT
fi
unset GLIPCTL_GEMM

# is_arm64 FILE: an ELF executable for aarch64 (e_machine 183).
is_arm64() {
	[[ $(head -c 4 "$1" | od -An -c | tr -d ' ') == 177ELF ]] &&
		[[ $(od -An -t u2 -j 18 -N 2 "$1" | tr -d ' ') == 183 ]]
}

# run LOG BIN DIR [ENV=VALUE...] -- ARGS...: runs the arm64 test binary
# BIN in DIR under qemu with the environment and test flags given, the
# output in $work/LOG.log, its summary lines printed; fails unless the
# binary printed PASS.
run() {
	local log=$1 bin=$2 dir=$3
	shift 3
	local envs=()
	while [[ $1 != -- ]]; do
		envs+=("$1")
		shift
	done
	shift
	(cd "$dir" && env "${envs[@]}" "$qemu" "$work/$bin.test" -test.v -test.count=1 "$@") >"$work/$log.log" 2>&1 || true
	grep -E '^(--- |ok|PASS|FAIL|panic)|kernels:|cases|error' "$work/$log.log" | grep -v '^    --- PASS' || true
	grep -qx PASS "$work/$log.log" || fail "$log: the tests failed under qemu (log above)"
}

# passed LOG TEST: TEST passed (not skipped) in LOG.
passed() {
	grep -qF -- "--- PASS: $2 (" "$work/$1.log" || fail "$1: $2 did not run and pass"
}

echo "== build arm64 test binaries (CGO_ENABLED=0)"
for pkg in gemm swin; do
	GOARCH=arm64 CGO_ENABLED=0 go test -c -o "$work/$pkg.test" "./internal/$pkg"
	is_arm64 "$work/$pkg.test" || fail "$work/$pkg.test is not an arm64 executable"
done

echo "== the avx2 kernel's results, natively"
GLIPCTL_GEMM_BITS="$work/avx2.bits" go test -count=1 -short -v -run '^TestSameBitsAcrossArchitectures$' ./internal/gemm |
	grep -E '^(--- |ok|FAIL)|written' || true
GLIPCTL_EXP_BITS="$work/exp.bits" go test -count=1 -v -run '^TestExpSameBitsAcrossArchitectures$' ./internal/swin |
	grep -E '^(--- |ok|FAIL)|written' || true
[[ -s $work/avx2.bits && -s $work/exp.bits ]] || fail "the avx2 references were not written"

echo "== internal/gemm on emulated arm64 (-short)"
t0=$(date +%s)
run gemm gemm internal/gemm GLIPCTL_GEMM_BITS="$work/avx2.bits" -- -test.short
passed gemm TestDispatch
passed gemm TestSameBitsAcrossArchitectures
grep -q 'kernels: 2, best "neon"' "$work/gemm.log" || fail "gemm: the neon kernel was not chosen"
n_gemm=$(grep -cE -- '--- PASS' "$work/gemm.log")
n_neon=$(grep -cE -- '--- PASS: [^ ]*/neon' "$work/gemm.log")

echo "== internal/gemm on emulated arm64: the shapes -short skips, neon against float64"
# Not the largest (1023x1025x257: about a minute a product under qemu).
run gemm-big gemm internal/gemm -- \
	-test.run '^(TestMatMulT|TestMatMulNN|TestPacked|TestEpilogue|TestBatch)$/^neon$/^a0$/^(300x300x64\+3|700x50x300\+1|200x70x384\+0|2x\(300x200x100\))$'
for t in TestMatMulT/neon/a0/700x50x300+1/bias=true TestMatMulNN/neon/a0/300x300x64+3 TestEpilogue/neon/a0/200x70x384+0/gelu+res \
	'TestBatch/neon/a0/2x(300x200x100)/trans=false' TestPacked/neon/a0/700x50x300+1; do
	passed gemm-big "$t"
done
n_big=$(grep -cE -- '--- PASS: [^ ]*/neon/' "$work/gemm-big.log")
t_gemm=$(($(date +%s) - t0))

echo "== GLIPCTL_GEMM=go on emulated arm64"
run gemm-go gemm internal/gemm GLIPCTL_GEMM=go -- -test.run '^TestSelected$'
grep -q 'kernels: 2, best "go"' "$work/gemm-go.log" || fail "gemm: GLIPCTL_GEMM=go did not select the portable kernel"

echo "== internal/swin on emulated arm64: exponentials, determinism, parity cases"
t0=$(date +%s)
run swin swin internal/swin GLIPCTL_EXP_BITS="$work/exp.bits" -- -test.short \
	-test.run '^(TestExpSubSum|TestScaleBiasMax|TestExpSameBitsAcrossArchitectures|TestForwardDeterministicAndPluggable|TestForwardConcurrent)$'
run swin-parity swin internal/swin -- -test.short \
	-test.run '^TestParity$/^t$/^(f32|bf16)$/^(glip|mmpretrain)$/^37x53$/^b1$'
for t in TestExpSubSum TestScaleBiasMax TestExpSameBitsAcrossArchitectures TestForwardDeterministicAndPluggable TestForwardConcurrent; do
	passed swin "$t"
done
for t in t/f32/glip/37x53/b1 t/bf16/glip/37x53/b1 t/f32/mmpretrain/37x53/b1; do
	passed swin-parity "TestParity/$t"
done
n_swin=$(cat "$work/swin.log" "$work/swin-parity.log" | grep -cE -- '--- PASS')
t_swin=$(($(date +%s) - t0))

echo "arm64_emulated: PASS: gemm $n_gemm tests and subtests passed with -short ($n_neon on the neon kernel) and $n_big on larger shapes (${t_gemm}s), swin $n_swin (${t_swin}s); $(($(date +%s) - t_start))s in all"
