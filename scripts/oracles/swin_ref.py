#!/usr/bin/python3
"""PyTorch reference of the GLIP Swin backbone forward pass, in both semantics.

Written from the facts in docs/glip.md (sections 1-4), not from any
implementation: the weights are an mmpretrain-named state dict (plain
tensors), the computation is functional torch, in float64 by default.

    semantics "mmpretrain": odd blocks shift by window//2 unless
        min(H, W) == window (no shift); min(H, W) < window is an error.
    semantics "glip": odd blocks always shift by window//2, with the -100
        mask computed on the padded map.

Run as a script it cross-checks itself against torchvision's independent
Swin (torchvision.models.swin_transformer) loaded with the same weights:

    /usr/bin/python3 scripts/oracles/swin_ref.py selfcheck          # exit 0 when it agrees
    /usr/bin/python3 scripts/oracles/swin_ref.py run --weights W.pth --input x.npy \
        [--semantics glip] [--out-indices 1,2,3] --out feats.safetensors

torchvision differs from the facts in ways the cross-check respects
(docs/glip.md section 7): its patch merging concatenates the 2x2 neighbours in GLIP's
order (so it gets official-order weights, and this reference the converted
ones); it has no per-stage norms (the pre-norm stage outputs are compared);
it skips the shift per axis when the window covers the padded axis, which
equals both semantics whenever every stage map is larger than the window
(and mmpretrain's also on square maps); its patch convolution does not pad
(inputs are zero-padded to a multiple of 4 before it).

Needs Debian's python3-torch (1.13) and python3-torchvision (0.14): run with
/usr/bin/python3.
"""

import argparse
import json
import math
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

from glip_remap import remap

LN_EPS = 1e-5
MASK_VALUE = -100.0
MEAN_BGR = (103.53, 116.28, 123.675)
STD_BGR = (57.375, 57.12, 58.395)


class SmallMapError(ValueError):
    """A stage map smaller than the window under mmpretrain semantics."""

    def __init__(self, stage, h, w, window):
        super().__init__(f"stage {stage}: map {h}x{w} smaller than window {window}")
        self.stage = stage


# ---------------------------------------------------------------------------
# Architecture from shapes (docs/glip.md section 2, mmpretrain names).

def arch_of(sd):
    """embed, depths, heads, window, patch, in_chans of an mmpretrain state dict."""
    g = lambda k: sd["backbone." + k]
    pe = g("patch_embed.projection.weight")
    embed, in_chans, patch = pe.shape[0], pe.shape[1], pe.shape[2]
    depths, heads, window = [], [], None
    i = 0
    while f"backbone.stages.{i}.blocks.0.norm1.weight" in sd:
        d = 0
        while f"backbone.stages.{i}.blocks.{d}.norm1.weight" in sd:
            d += 1
        tbl = g(f"stages.{i}.blocks.0.attn.w_msa.relative_position_bias_table")
        side = int(round(math.sqrt(tbl.shape[0])))
        window = (side + 1) // 2
        depths.append(d)
        heads.append(tbl.shape[1])
        i += 1
    return dict(embed=embed, depths=depths, heads=heads, window=window, patch=patch, in_chans=in_chans)


def stage_sizes(h, w, n_stages, patch=4):
    sizes = []
    h, w = -(-h // patch), -(-w // patch)
    for _ in range(n_stages):
        sizes.append((h, w))
        h, w = -(-h // 2), -(-w // 2)
    return sizes


# ---------------------------------------------------------------------------
# The forward pass.

def rel_position_index(w):
    """(w*w, w*w): row of the bias table for window tokens i, j (row-major)."""
    r = torch.arange(w)
    ys = r.repeat_interleave(w)  # token i -> row
    xs = r.repeat(w)  # token i -> column
    dy = ys[:, None] - ys[None, :] + (w - 1)
    dx = xs[:, None] - xs[None, :] + (w - 1)
    return dy * (2 * w - 1) + dx


def to_windows(t, w):
    """(B, Hp, Wp, C) -> (B*nW, w*w, C), windows row-major, tokens row-major."""
    b, hp, wp, c = t.shape
    t = t.reshape(b, hp // w, w, wp // w, w, c).transpose(2, 3)
    return t.reshape(-1, w * w, c)


def from_windows(t, b, hp, wp, w):
    c = t.shape[-1]
    t = t.reshape(b, hp // w, wp // w, w, w, c).transpose(2, 3)
    return t.reshape(b, hp, wp, c)


def shift_mask(hp, wp, w, s, dtype):
    """(nW, N, N) additive mask of the cyclically shifted hp x wp map: the
    three bands [0, size-w), [size-w, size-s), [size-s, size) per axis make
    nine regions; tokens of different regions get MASK_VALUE."""
    def bands(size):
        lab = torch.zeros(size, dtype=torch.long)
        lab[size - w:size - s] = 1
        lab[size - s:] = 2
        return lab
    region = bands(hp)[:, None] * 3 + bands(wp)[None, :]
    win = to_windows(region[None, :, :, None], w)[..., 0]  # nW, N
    differ = win[:, :, None] != win[:, None, :]
    return torch.where(differ, torch.tensor(MASK_VALUE, dtype=dtype), torch.tensor(0.0, dtype=dtype))


def block_shift(j, h, w, window, semantics, stage):
    if semantics == "mmpretrain":
        if min(h, w) < window:
            raise SmallMapError(stage, h, w, window)
        if j % 2 == 1 and min(h, w) != window:
            return window // 2
        return 0
    if semantics == "glip":
        return window // 2 if j % 2 == 1 else 0
    raise ValueError(f"unknown semantics {semantics!r}")


def swin_block(x, h, w, p, heads, window, shift):
    """x: (B, h*w, C). p: dict of the block's tensors (mmpretrain suffixes)."""
    b, n, c = x.shape
    t = F.layer_norm(x, (c,), p["norm1.weight"], p["norm1.bias"], LN_EPS).reshape(b, h, w, c)
    hp, wp = -(-h // window) * window, -(-w // window) * window
    t = F.pad(t, (0, 0, 0, wp - w, 0, hp - h))
    if shift:
        t = torch.roll(t, shifts=(-shift, -shift), dims=(1, 2))
    win = to_windows(t, window)  # B*nW, N, C
    nw, ntok = win.shape[0], win.shape[1]
    hd = c // heads
    qkv = F.linear(win, p["attn.w_msa.qkv.weight"], p["attn.w_msa.qkv.bias"])
    qkv = qkv.reshape(nw, ntok, 3, heads, hd).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]  # nW, heads, N, hd
    attn = (q * hd ** -0.5) @ k.transpose(-1, -2)
    table = p["attn.w_msa.relative_position_bias_table"]  # (2w-1)^2, heads
    bias = table[rel_position_index(window).reshape(-1)].reshape(ntok, ntok, heads).permute(2, 0, 1)
    attn = attn + bias[None]
    if shift:
        mask = shift_mask(hp, wp, window, shift, attn.dtype)  # nW_img, N, N
        attn = attn.reshape(b, -1, heads, ntok, ntok) + mask[None, :, None]
        attn = attn.reshape(nw, heads, ntok, ntok)
    attn = attn.softmax(dim=-1)
    o = (attn @ v).transpose(1, 2).reshape(nw, ntok, c)
    o = F.linear(o, p["attn.w_msa.proj.weight"], p["attn.w_msa.proj.bias"])
    o = from_windows(o, b, hp, wp, window)
    if shift:
        o = torch.roll(o, shifts=(shift, shift), dims=(1, 2))
    x = x + o[:, :h, :w].reshape(b, n, c)
    t = F.layer_norm(x, (c,), p["norm2.weight"], p["norm2.bias"], LN_EPS)
    t = F.gelu(F.linear(t, p["ffn.layers.0.0.weight"], p["ffn.layers.0.0.bias"]))
    return x + F.linear(t, p["ffn.layers.1.weight"], p["ffn.layers.1.bias"])


def patch_merge(x, h, w, p):
    """mmpretrain's merging: pad to even sides, nn.Unfold 2x2 stride 2
    (channel-major 4C), LayerNorm, reduction."""
    b, n, c = x.shape
    t = x.transpose(1, 2).reshape(b, c, h, w)
    t = F.pad(t, (0, w % 2, 0, h % 2))
    t = F.unfold(t, kernel_size=2, stride=2).transpose(1, 2)  # B, L/4, 4C
    t = F.layer_norm(t, (4 * c,), p["norm.weight"], p["norm.bias"], LN_EPS)
    return F.linear(t, p["reduction.weight"]), -(-h // 2), -(-w // 2)


def forward(sd, x, semantics="mmpretrain", out_indices=(1, 2, 3)):
    """Run the backbone. sd: mmpretrain-named tensors (float64 or float32,
    all of one dtype); x: (B, 3, H, W) normalised input of the same dtype.
    Returns (outs, prenorm): outs[K] = norm{K}(stage K) as (B, C, H, W) for
    K in out_indices; prenorm[K] = stage K's block output, (B, C, H, W)."""
    a = arch_of(sd)
    g = lambda k: sd["backbone." + k]
    patch = a["patch"]
    b, _, hin, win_ = x.shape
    x = F.pad(x, (0, (-win_) % patch, 0, (-hin) % patch))
    x = F.conv2d(x, g("patch_embed.projection.weight"), g("patch_embed.projection.bias"), stride=patch)
    h, w = x.shape[2], x.shape[3]
    x = x.flatten(2).transpose(1, 2)
    x = F.layer_norm(x, (a["embed"],), g("patch_embed.norm.weight"), g("patch_embed.norm.bias"), LN_EPS)
    outs, prenorm = {}, {}
    for i, depth in enumerate(a["depths"]):
        c = x.shape[-1]
        for j in range(depth):
            pre = f"backbone.stages.{i}.blocks.{j}."
            p = {k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}
            shift = block_shift(j, h, w, a["window"], semantics, i)
            x = swin_block(x, h, w, p, a["heads"][i], a["window"], shift)
        prenorm[i] = x.transpose(1, 2).reshape(b, c, h, w)
        if i in out_indices:
            nw, nb = sd.get(f"backbone.norm{i}.weight"), sd.get(f"backbone.norm{i}.bias")
            if nw is None and semantics == "glip":
                y = x  # GLIP's missing norm0 is an identity
            else:  # mmpretrain leaves a missing norm at weight 1, bias 0
                y = F.layer_norm(x, (c,), nw, nb, LN_EPS)
            outs[i] = y.transpose(1, 2).reshape(b, c, h, w)
        if i < len(a["depths"]) - 1:
            pre = f"backbone.stages.{i}.downsample."
            p = {k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}
            x, h, w = patch_merge(x, h, w, p)
    return outs, prenorm


# ---------------------------------------------------------------------------
# The remap of docs/glip.md section 3: scripts/oracles/glip_remap.py, and its inverse.

def merge_reorder_inverse(t):
    """nn.Unfold channel-major order -> GLIP concat order (inverse of glip_remap's reorder)."""
    if t.dim() == 2:
        out, inn = t.shape
        return t.reshape(out, inn // 4, 4).transpose(1, 2)[:, [0, 2, 1, 3]].reshape(out, inn)
    inn = t.shape[0]
    return t.reshape(inn // 4, 4).transpose(0, 1)[[0, 2, 1, 3]].reshape(inn)


def mmpretrain_to_official(sd):
    """Inverse of official_to_mmpretrain on the backbone keys (names get the
    "module.backbone.body." prefix)."""
    out = OrderedDict()
    for k, v in sd.items():
        if not k.startswith("backbone."):
            continue
        n = k[len("backbone."):]
        if n.startswith("stages"):
            n = "layers" + n[len("stages"):]
        if "ffn.layers." in n:
            n = n.replace("ffn.layers.0.0", "mlp.fc1").replace("ffn.layers.1", "mlp.fc2")
        elif "attn.w_msa" in n:
            n = n.replace("attn.w_msa", "attn")
        elif "patch_embed" in n:
            n = n.replace("projection", "proj")
        elif "downsample" in n and ("reduction." in n or "norm." in n):
            v = merge_reorder_inverse(v)
        out["module.backbone.body." + n] = v
    return out


def official_to_mmpretrain(sd):
    """The remap of mmpretrain's glip_to_mmpretrain.py (scripts/oracles/glip_remap.py)."""
    return remap(sd)


def official_to_torchvision(sd, tv_state):
    """Official GLIP backbone tensors renamed to torchvision's SwinTransformer
    (features.*); tv_state supplies torchvision's own buffers and head."""
    out = OrderedDict(tv_state)
    pre = "module.backbone.body."
    for k, v in sd.items():
        if not k.startswith(pre):
            continue
        n = k[len(pre):]
        if n.startswith("patch_embed."):
            n = n.replace("patch_embed.proj.", "features.0.0.").replace("patch_embed.norm.", "features.0.2.")
        elif n.startswith("layers."):
            parts = n.split(".")
            i = int(parts[1])
            if parts[2] == "blocks":
                rest = ".".join(parts[3:])
                rest = rest.replace("mlp.fc1", "mlp.0").replace("mlp.fc2", "mlp.3")
                if rest.endswith("relative_position_index"):
                    continue  # torchvision keeps its own (flattened) buffer
                n = f"features.{2 * i + 1}.{rest}"
            else:  # downsample
                n = f"features.{2 * i + 2}." + ".".join(parts[3:])
        else:
            continue  # norm1..3: torchvision has none
        if n not in out:
            raise KeyError(f"torchvision has no {n} (from {k})")
        if tuple(out[n].shape) != tuple(v.shape):
            raise ValueError(f"{n}: shape {tuple(v.shape)} vs torchvision {tuple(out[n].shape)}")
        out[n] = v
    return out


# ---------------------------------------------------------------------------
# Random official GLIP weights (docs/glip.md section 2 names), non-trivial.

def random_official(embed, depths, heads, window, seed, mlp_ratio=4, patch=4, dtype=torch.float32, junk=True):
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    sd = OrderedDict()
    pre = "module.backbone.body."

    def ln(name, c):
        sd[name + ".weight"] = 1 + 0.3 * rnd(c)
        sd[name + ".bias"] = 0.2 * rnd(c)

    def lin(name, out, inn, bias=True, gain=1.0):
        sd[name + ".weight"] = gain * rnd(out, inn) / math.sqrt(inn)
        if bias:
            sd[name + ".bias"] = 0.1 * rnd(out)

    sd[pre + "patch_embed.proj.weight"] = rnd(embed, 3, patch, patch) / math.sqrt(3 * patch * patch)
    sd[pre + "patch_embed.proj.bias"] = 0.1 * rnd(embed)
    ln(pre + "patch_embed.norm", embed)
    idx = rel_position_index(window)
    for i, d in enumerate(depths):
        c = embed << i
        for j in range(d):
            p = f"{pre}layers.{i}.blocks.{j}."
            ln(p + "norm1", c)
            sd[p + "attn.relative_position_bias_table"] = 0.8 * rnd((2 * window - 1) ** 2, heads[i])
            sd[p + "attn.relative_position_index"] = idx.clone()
            lin(p + "attn.qkv", 3 * c, c, gain=1.5)
            lin(p + "attn.proj", c, c, gain=0.7)
            ln(p + "norm2", c)
            lin(p + "mlp.fc1", mlp_ratio * c, c)
            lin(p + "mlp.fc2", c, mlp_ratio * c, gain=0.7)
        if i < len(depths) - 1:
            p = f"{pre}layers.{i}.downsample."
            lin(p + "reduction", 2 * c, 4 * c, bias=False)
            ln(p + "norm", 4 * c)
    for k in range(1, len(depths)):
        ln(f"{pre}norm{k}", embed << k)
    if junk:  # parts of a real GLIP file that are not the backbone
        sd["module.language_backbone.body.model.embeddings.word_embeddings.weight"] = rnd(16, 8)
        sd["module.backbone.fpn.fpn_inner2.weight"] = rnd(8, embed << 1, 1, 1)
        sd["module.rpn.head.cls_logits.weight"] = rnd(4, 8)
    return OrderedDict((k, v if v.dtype == torch.long else v.to(dtype)) for k, v in sd.items())


# ---------------------------------------------------------------------------
# Cross-check against torchvision.

def torchvision_prenorm(official_sd, arch, x):
    """Stage outputs (B, C, H, W) of torchvision's Swin with official weights."""
    from torchvision.models import swin_transformer as tvs
    m = tvs.SwinTransformer(patch_size=[arch["patch"]] * 2, embed_dim=arch["embed"], depths=list(arch["depths"]),
                            num_heads=list(arch["heads"]), window_size=[arch["window"]] * 2,
                            stochastic_depth_prob=0.0)
    m = m.to(x.dtype).eval()
    m.load_state_dict(official_to_torchvision({k: v.to(x.dtype) if v.is_floating_point() else v
                                               for k, v in official_sd.items()}, m.state_dict()))
    p = arch["patch"]
    x = F.pad(x, (0, (-x.shape[3]) % p, 0, (-x.shape[2]) % p))
    outs = {}
    with torch.no_grad():
        t = x
        for li, layer in enumerate(m.features):
            t = layer(t)
            if li % 2 == 1:
                outs[li // 2] = t.permute(0, 3, 1, 2)
    return outs


def torchvision_agrees(sizes, window, semantics):
    """Whether torchvision's shift rule equals the semantics on these maps."""
    for h, w in sizes:
        hp, wp = -(-h // window) * window, -(-w // window) * window
        tv_h, tv_w = hp > window, wp > window  # torchvision shifts this axis
        if semantics == "glip":
            if not (tv_h and tv_w):
                return False
        else:
            if min(h, w) < window:
                return False
            mm = min(h, w) != window
            if tv_h != mm or tv_w != mm:
                return False
    return True


def crosscheck(official_sd, hw_list, semantics_list=("mmpretrain", "glip"), seed=0, log=print):
    """Compare this reference (converted weights) with torchvision (official
    weights) in float64 on every (size, semantics) where torchvision's shift
    rule agrees. Returns the worst relative difference; raises if > 1e-9."""
    mm_sd = {k: v.double() if v.is_floating_point() else v for k, v in official_to_mmpretrain(official_sd).items()}
    arch = arch_of(mm_sd)
    g = torch.Generator().manual_seed(seed)
    worst, checked = 0.0, 0
    for (h, w) in hw_list:
        x = torch.randn(1, 3, h, w, generator=g, dtype=torch.float64)
        sizes = stage_sizes(h, w, len(arch["depths"]), arch["patch"])
        tv = None
        for sem in semantics_list:
            if not torchvision_agrees(sizes, arch["window"], sem):
                continue
            if tv is None:
                tv = torchvision_prenorm(official_sd, arch, x)
            with torch.no_grad():
                _, pre = forward(mm_sd, x, sem, out_indices=())
            for k in pre:
                d = (pre[k] - tv[k]).abs().max().item() / tv[k].abs().max().item()
                worst = max(worst, d)
                checked += 1
                if not d <= 1e-9:
                    raise AssertionError(f"reference vs torchvision: {h}x{w} {sem} stage {k}: rel diff {d:.3g}")
            log(f"crosscheck {arch['embed']}/{arch['depths']}/w{arch['window']} {h}x{w} {sem}: ok")
    if checked == 0:
        raise AssertionError("crosscheck compared nothing")
    return worst


def selfcheck(log=print):
    """The cross-checks of the script: torchvision.models.swin_t itself (real
    Swin-T dimensions), and shrunken T- and L-shaped models on square,
    non-square, odd and not-multiple-of-4 sizes."""
    import torchvision
    worst = 0.0
    # The remap and its inverse: official -> mmpretrain -> official is exact.
    sd = random_official(8, [2, 2, 2, 2], [1, 2, 4, 8], 7, seed=5, junk=False)
    back = mmpretrain_to_official(official_to_mmpretrain(sd))
    assert list(back) == list(sd) and all(torch.equal(back[k], sd[k]) for k in sd), "remap round trip"
    # torchvision.models.swin_t, random weights, loaded from our official dict.
    tv = torchvision.models.swin_t(weights=None)
    sd = random_official(96, [2, 2, 6, 2], [3, 6, 12, 24], 7, seed=11, junk=False)
    tvsd = official_to_torchvision(sd, tv.state_dict())
    tv = tv.double().eval()
    tv.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in tvsd.items()})
    mm_sd = {k: v.double() if v.is_floating_point() else v for k, v in official_to_mmpretrain(sd).items()}
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        t, ref_pre = x, forward(mm_sd, x, "mmpretrain", out_indices=())[1]
        for li, layer in enumerate(tv.features):
            t = layer(t)
            if li % 2 == 1:
                d = (ref_pre[li // 2] - t.permute(0, 3, 1, 2)).abs().max().item() / t.abs().max().item()
                worst = max(worst, d)
                assert d <= 1e-9, f"swin_t 224 stage {li // 2}: rel diff {d}"
    log("crosscheck torchvision.models.swin_t 224x224 mmpretrain: ok")
    t_sd = random_official(24, [2, 2, 6, 2], [3, 6, 12, 24], 7, seed=1)
    worst = max(worst, crosscheck(t_sd, [(224, 224), (228, 260), (230, 227), (256, 256)], log=log))
    l_sd = random_official(24, [2, 2, 3, 2], [6, 12, 24, 48], 12, seed=2)
    worst = max(worst, crosscheck(l_sd, [(384, 384), (416, 392)], log=log))
    return worst


# ---------------------------------------------------------------------------
# Minimal safetensors and .npy I/O (F32/F16/BF16 only), for the scripts.

_ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = OrderedDict()
    np_dt = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        if info["dtype"] == "BF16":
            a = np.frombuffer(data[b:e], dtype="<i2").reshape(info["shape"])
            out[name] = torch.from_numpy(a.copy()).view(torch.bfloat16)
        else:
            a = np.frombuffer(data[b:e], dtype=np_dt[info["dtype"]]).reshape(info["shape"])
            out[name] = torch.from_numpy(a.copy())
    return out


def load_weights(path):
    """mmpretrain-named tensors from a .pth (official or mmpretrain layout) or .safetensors."""
    if path.endswith(".safetensors"):
        sd = load_safetensors(path)
    else:
        obj = torch.load(path, map_location="cpu")
        sd = obj
        if isinstance(obj, dict):
            for k in ("state_dict", "model", "module"):
                if k in obj and isinstance(obj[k], dict):
                    sd = obj[k]
                    break
    if any(k.startswith("module.backbone.body.") or k.startswith("backbone.body.") for k in sd):
        sd = official_to_mmpretrain(sd)
    return sd


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("selfcheck", help="cross-check the reference against torchvision")
    r = sub.add_parser("run", help="run the reference on a weights file and an input .npy")
    r.add_argument("--weights", required=True)
    r.add_argument("--input", required=True, help="float32 (B,3,H,W) .npy, normalised")
    r.add_argument("--semantics", default="mmpretrain", choices=["mmpretrain", "glip"])
    r.add_argument("--out-indices", default="1,2,3")
    r.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    r.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "selfcheck":
        worst = selfcheck()
        print(f"selfcheck ok: worst relative difference to torchvision {worst:.3g}")
        return 0
    dt = getattr(torch, a.dtype)
    sd = {k: v.to(dt) if v.is_floating_point() else v for k, v in load_weights(a.weights).items()}
    x = torch.from_numpy(np.load(a.input)).to(dt)
    outs, _ = forward(sd, x, a.semantics, tuple(int(s) for s in a.out_indices.split(",")))
    save_safetensors(a.out, {f"stage{k}": v.float() for k, v in outs.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
