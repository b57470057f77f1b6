#!/usr/bin/env bash
# Byte-identity of glipctl's outputs between two revisions: every committed
# checkpoint fixture converted to every format and dtype (and to the other
# layout), and forward run on every fixture model and input, by the glipctl
# built at BASE and by the one built from the work tree; every output file
# and report must be byte-identical.
#
#   scripts/ci/check_identity.sh BASE        # e.g. a commit before a refactor
#
# Prints one line per compared file that differs, then "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${1:?usage: check_identity.sh BASE-REVISION}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git worktree add -q --detach "$work/base-src" "$base"
trap 'git worktree remove --force "$work/base-src"; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
(cd "$work/base-src" && go build -o "$work/glipctl-base" ./cmd/glipctl)
go build -o "$work/glipctl-new" ./cmd/glipctl

run() { # run SIDE ARGS...: in $work/SIDE, with a private cache
	local side=$1
	shift
	(cd "$work/$side" && GLIPCTL_CACHE="$work/$side/cache" XDG_CACHE_HOME="$work/$side/xdg" "$work/glipctl-$side" "$@" >/dev/null 2>&1) || echo "exit $?" >>"$work/$side/exits"
}
root=$PWD
for side in base new; do
	mkdir -p "$work/$side"
	: >"$work/$side/exits"
	for f in testdata/*.pth testdata/forward/tiny_official.pth testdata/forward/tiny_mm.safetensors; do
		b=$(basename "$f")
		for fmt in pth safetensors gguf; do
			for dt in keep f32 f16 bf16; do
				run "$side" convert --no-sync "$root/$f" -o "$b.$dt.$fmt"
				[ "$dt" = keep ] || run "$side" convert --no-sync --force --dtype "$dt" "$root/$f" -o "$b.$dt.$fmt"
			done
		done
		run "$side" convert --no-sync --dtype q8_0 "$root/$f" -o "$b.q8_0.gguf"
		run "$side" convert --no-sync --layout official "$root/$f" -o "$b.official.pth"
	done
	m=$root/testdata/forward
	for model in "$m/tiny_official.pth" "$m/tiny_mm.safetensors"; do
		b=$(basename "$model")
		for sem in glip mmpretrain; do
			run "$side" forward -m "$model" --semantics "$sem" "$m/scene.png" -o "fwd.$b.$sem.png.safetensors"
			run "$side" forward -m "$model" --semantics "$sem" --no-resize "$m/scene.png" -o "fwd.$b.$sem.noresize.safetensors"
			run "$side" forward -m "$model" --semantics glip --input "$m/x_37x53.npy" -o "fwd.$b.$sem.npy.safetensors"
			run "$side" forward -m "$model" --semantics "$sem" --size 64 "$m/scene.png" --input "$m/x_37x53.npy" -o "fwd.$b.$sem.multi.safetensors"
		done
	done
done
pass=0 fail=0
while IFS= read -r f; do
	if cmp -s "$work/base/$f" "$work/new/$f"; then
		pass=$((pass + 1))
	else
		echo "differs: $f"
		fail=$((fail + 1))
	fi
done < <(cd "$work/base" && find . -type f ! -path './cache/*' ! -path './xdg/*' ! -name exits | sort)
nbase=$(cd "$work/base" && find . -type f ! -path './cache/*' ! -path './xdg/*' ! -name exits | wc -l)
nnew=$(cd "$work/new" && find . -type f ! -path './cache/*' ! -path './xdg/*' ! -name exits | wc -l)
if [ "$nbase" != "$nnew" ]; then
	echo "base wrote $nbase files, new wrote $nnew"
	fail=$((fail + 1))
fi
echo "identity with $base: $pass passed, $fail failed"
[ "$fail" = 0 ]
