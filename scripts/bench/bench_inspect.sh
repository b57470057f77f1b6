#!/usr/bin/env bash
# Times `glipctl inspect --stats` against Python torch.load + per-tensor
# min/max/mean/std on a generated ~750 MB official-layout checkpoint, in the
# same run, and prints wall time, peak RSS and the ratios.
# Usage: scripts/bench/bench_inspect.sh [WORKDIR]   (needs /usr/bin/python3 with torch)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
ckpt=$work/big_official.pth
[ -f "$ckpt" ] || /usr/bin/python3 scripts/bench/gen_big_checkpoint.py "$ckpt"
go build -o "$work/glipctl" ./cmd/glipctl
cat > "$work/torch_stats.py" <<'PY'
import sys, torch
torch.set_num_threads(2)
obj = torch.load(sys.argv[1], map_location="cpu")
def walk(prefix, v):
    if isinstance(v, torch.Tensor):
        d = v.double()
        if d.numel():
            d.min().item(); d.max().item(); d.mean().item(); d.std().item()
    elif isinstance(v, dict):
        for k, x in v.items():
            walk(f"{prefix}/{k}", x)
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            walk(f"{prefix}/{i}", x)
walk("", obj)
PY
size=$(stat -c %s "$ckpt")
# Warm the page cache so both read from memory.
cat "$ckpt" > /dev/null
measure() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }
best() { # best wall time of 3 runs, and the peak RSS of that run
  local b="" r=""
  for _ in 1 2 3; do
    read -r t m < <(measure "$@")
    if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then b=$t; r=$m; fi
  done
  echo "$b $r"
}
read -r gt gm < <(best "$work/glipctl" inspect --stats "$ckpt")
read -r pt pm < <(best /usr/bin/python3 "$work/torch_stats.py" "$ckpt")
printf '%-34s %10s %12s\n' "inspect --stats, $((size/1000000)) MB file" "wall (s)" "peak RSS (MB)"
printf '%-34s %10s %12d\n' "glipctl" "$gt" $((gm/1024))
printf '%-34s %10s %12d\n' "python torch.load + stats" "$pt" $((pm/1024))
awk -v gt="$gt" -v pt="$pt" -v gm="$gm" -v s="$size" 'BEGIN{
  printf "speed-up: %.1fx   glipctl peak RSS: %.1f%% of the file\n", pt/gt, 100*gm*1024/s }'
