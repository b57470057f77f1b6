#!/usr/bin/env bash
# Benchmark `glipctl convert` against Python (torch.load + mmpretrain's remap +
# torch.save, what tools/model_converters/glip_to_mmpretrain.py does) on a generated
# ~750 MB official-layout GLIP checkpoint: a real-size Swin-T backbone, BERT-base-sized
# language backbone, FPN/RPN heads and SGD momentum buffers. Both run in the same
# invocation on a warm page cache; best wall time of 3 runs each, with that run's peak
# RSS (/usr/bin/time -v). The two .pth outputs are compared byte for byte.
#
# glipctl is timed twice: COLD, the first conversion of the file (an empty cache
# directory, so the source's sha256 is computed: the whole file is read), and WARM, the
# source's sha256 taken from the digest cache (<cache>/digests, as after a first
# conversion or a `glipctl download`). The load average is printed before and after.
#
# ARCH=L instead generates a real-size Swin-L backbone (embed 192, depths 2,2,18,2, window
# 12: ~790 MB, nearly all of it kept) with FPN/RPN heads and no language backbone.
#
# Usage: scripts/bench/bench_convert.sh [WORKDIR]     (GLIPCTL=path uses that binary instead of
# building one; WORKDIR keeps the generated checkpoint between runs)
# Needs Debian's /usr/bin/python3 with python3-torch, /usr/bin/time and go.
# Targets: glipctl at least 10x faster and at most 0.1x the peak RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/bench_convert.XXXXXX")}
mkdir -p "$work"
py=/usr/bin/python3
arch=${ARCH:-T}
case $arch in T | L) ;; *) echo "ARCH must be T or L" >&2; exit 2 ;; esac
src=$work/glip_official_swin$arch.pth

if [ ! -f "$src" ]; then
	"$py" - "$src" "$arch" <<'PY'
import collections, sys, torch
torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
def r(*s):
    return torch.randn(*s, generator=g) * 0.02
large = sys.argv[2] == "L"
E, D, H, W = (192, (2, 2, 18, 2), (6, 12, 24, 48), 12) if large else (96, (2, 2, 6, 2), (3, 6, 12, 24), 7)
sd = collections.OrderedDict()
p = "module.backbone.body."
sd[p + "patch_embed.proj.weight"] = r(E, 3, 4, 4)
sd[p + "patch_embed.proj.bias"] = r(E)
sd[p + "patch_embed.norm.weight"] = 1 + r(E)
sd[p + "patch_embed.norm.bias"] = r(E)
c = torch.stack(torch.meshgrid(torch.arange(W), torch.arange(W), indexing="ij")).flatten(1)
rel = (c[:, :, None] - c[:, None, :]).permute(1, 2, 0) + (W - 1)
index = rel[:, :, 0] * (2 * W - 1) + rel[:, :, 1]
for i, (d, h) in enumerate(zip(D, H)):
    C = E << i
    for j in range(d):
        b = f"{p}layers.{i}.blocks.{j}."
        sd[b + "norm1.weight"] = 1 + r(C); sd[b + "norm1.bias"] = r(C)
        sd[b + "attn.relative_position_bias_table"] = r((2 * W - 1) ** 2, h)
        sd[b + "attn.relative_position_index"] = index.clone()
        sd[b + "attn.qkv.weight"] = r(3 * C, C); sd[b + "attn.qkv.bias"] = r(3 * C)
        sd[b + "attn.proj.weight"] = r(C, C); sd[b + "attn.proj.bias"] = r(C)
        sd[b + "norm2.weight"] = 1 + r(C); sd[b + "norm2.bias"] = r(C)
        sd[b + "mlp.fc1.weight"] = r(4 * C, C); sd[b + "mlp.fc1.bias"] = r(4 * C)
        sd[b + "mlp.fc2.weight"] = r(C, 4 * C); sd[b + "mlp.fc2.bias"] = r(C)
    if i < len(D) - 1:
        sd[f"{p}layers.{i}.downsample.reduction.weight"] = r(2 * C, 4 * C)
        sd[f"{p}layers.{i}.downsample.norm.weight"] = 1 + r(4 * C)
        sd[f"{p}layers.{i}.downsample.norm.bias"] = r(4 * C)
for k in (1, 2, 3):
    sd[f"{p}norm{k}.weight"] = 1 + r(E << k); sd[f"{p}norm{k}.bias"] = r(E << k)
lb = "module.language_backbone.body.model."
for k in range(3):
    sd[f"module.backbone.fpn.fpn_inner{k}.weight"] = r(256, E << (k + 1), 1, 1)
    sd[f"module.backbone.fpn.fpn_layer{k}.weight"] = r(256, 256, 3, 3)
sd["module.rpn.head.cls_logits.weight"] = r(80, 256, 3, 3)
if large:
    torch.save({"model": sd, "iteration": 1000}, sys.argv[1])
    sys.exit(0)
sd[lb + "embeddings.word_embeddings.weight"] = r(30522, 768)
sd[lb + "embeddings.position_embeddings.weight"] = r(512, 768)
for l in range(12):
    q = f"{lb}encoder.layer.{l}."
    for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
        sd[q + n + ".weight"] = r(768, 768); sd[q + n + ".bias"] = r(768)
    sd[q + "intermediate.dense.weight"] = r(3072, 768); sd[q + "intermediate.dense.bias"] = r(3072)
    sd[q + "output.dense.weight"] = r(768, 3072); sd[q + "output.dense.bias"] = r(768)
floats = [k for k, v in sd.items() if v.is_floating_point() and (k.startswith("module.backbone.body.") or "word_embeddings" in k)]
state = {i: {"momentum_buffer": sd[k] * 0.5} for i, k in enumerate(floats)}
ck = {"model": sd, "optimizer": {"state": state, "param_groups": [{"lr": 1e-4, "momentum": 0.9, "params": list(range(len(floats)))}]},
      "scheduler": {"last_epoch": 1000}, "iteration": 1000}
torch.save(ck, sys.argv[1])
PY
fi

cat >"$work/torch_convert.py" <<'PY'
# What mmpretrain's glip_to_mmpretrain.py does: load, remap, torch.save(OrderedDict).
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[3])
import torch
from glip_remap import remap
ck = torch.load(sys.argv[1], map_location="cpu")
sd = ck["model"] if "model" in ck else ck
torch.save(remap(sd), sys.argv[2])
PY

glipctl=${GLIPCTL:-}
if [ -z "$glipctl" ]; then
	go build -o "$work/glipctl" ./cmd/glipctl
	glipctl=$work/glipctl
fi
mkdir -p "$work/py" "$work/go"
cat "$src" >/dev/null # warm the page cache
# The digest cache does not keep files changed within the last 2 s (racy): let a
# just-generated source age.
age=$(($(date +%s) - $(stat -c %Z "$src")))
[ "$age" -ge 3 ] || sleep $((3 - age))
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# measure CMD...: prints "wall_seconds peak_rss_kb"
# (wall time from date's nanoseconds: /usr/bin/time's own has 10 ms steps)
measure() {
	local t0 t1
	t0=$(date +%s%N)
	/usr/bin/time -v "$@" 2>"$work/time.txt" >/dev/null
	t1=$(date +%s%N)
	awk -F': ' -v ns=$((t1 - t0)) '
		/Maximum resident set size/ { rss = $2 }
		END { printf "%.3f %d\n", ns / 1e9, rss }' "$work/time.txt"
}
best() { # PREPARE CMD...: best wall time of 3 runs of CMD, and that run's peak RSS
	local b="" m="" t r
	for _ in 1 2 3; do
		"$1"
		read -r t r < <(measure "${@:2}")
		if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then b=$t; m=$r; fi
	done
	echo "$b $m"
}
cache=$work/glipctl-cache
clean_go() { rm -f "$work/go/archive.pth" "$work/go/archive.pth.report."*; }
clean_cold() { clean_go; rm -rf "$cache"; }
clean_py() { rm -f "$work/py/archive.pth"; }
source_from() { grep -o '"sha256_source": *"[a-z]*"' "$work/go/archive.pth.report.json" | sed 's/.*"\([a-z]*\)"$/\1/'; }
export GLIPCTL_CACHE=$cache
read -r ct cm < <(best clean_cold "$glipctl" convert "$src" -o "$work/go/archive.pth" -q)
cold_from=$(source_from)
clean_go
"$glipctl" convert "$src" -o "$work/go/archive.pth" -q >/dev/null # fills the digest cache
read -r gt gm < <(best clean_go "$glipctl" convert "$src" -o "$work/go/archive.pth" -q)
warm_from=$(source_from)
read -r nt nm < <(best clean_go "$glipctl" convert "$src" -o "$work/go/archive.pth" -q --no-sync)
read -r pt pm < <(best clean_py "$py" "$work/torch_convert.py" "$src" "$work/py/archive.pth" "$repo/scripts/oracles")

same=no
cmp -s "$work/go/archive.pth" "$work/py/archive.pth" && same=yes
size=$(stat -c %s "$src")
out=$(stat -c %s "$work/go/archive.pth")
printf 'convert %d MB official checkpoint (Swin-%s) -> %d MB mmpretrain .pth\n' $((size / 1000000)) "$arch" $((out / 1000000))
row() { # LABEL WALL RSS_KB
	awk -v l="$1" -v t="$2" -v m="$3" -v pt="$pt" -v pm="$pm" 'BEGIN{
		printf "%-44s %9s %14d %9.1fx %10.3f\n", l, t, m / 1024, pt / t, m / pm }'
}
printf '%-44s %9s %14s %10s %10s\n' "" "wall (s)" "peak RSS (MB)" "speed-up" "RSS ratio"
row "glipctl convert, cold (sha256: $cold_from)" "$ct" "$cm"
row "glipctl convert, warm (sha256: $warm_from)" "$gt" "$gm"
row "glipctl convert --no-sync, warm" "$nt" "$nm"
row "python torch.load + remap + torch.save" "$pt" "$pm"
echo "(glipctl fsyncs its outputs before renaming them unless --no-sync; torch.save does not fsync)"
echo "targets: speed-up >= 10x, RSS ratio <= 0.1"
echo "outputs byte-identical: $same"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
