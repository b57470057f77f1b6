#!/usr/bin/python3
"""References for glipctl's ecosystem layouts (convert --layout hf, hf-model,
timm, torchvision): load a converted output the way each library loads it,
check what that library checks (and what its non-strict paths would hide),
and run that library's forward pass on an RGB ImageNet-normalised input.

    /usr/bin/python3 scripts/oracles/eco_ref.py make --embed 32 --depths 2,2,6,2 \
        --heads 1,2,4,8 --window 7 --size 224 --seed 1 --out DIR
        # DIR/official.pth (random GLIP weights), DIR/input_bgr.npy (GLIP's
        # input of a random image), DIR/input_rgb.npy (the same image as the
        # RGB pipelines feed it)
    /usr/bin/python3 scripts/oracles/eco_ref.py check --case L:PATH:FEATS [--case ...] \
        --official DIR/official.pth --input DIR/input_rgb.npy
        # loads PATH (a file, or a directory with config.json) as layout L,
        # exits 1 with a message when the library would not load it, and
        # writes the features stage1..3 (B, C, H, W) as safetensors FEATS
    /usr/bin/python3 scripts/oracles/eco_ref.py names --out NAMES.json
        # torchvision.models.swin_t()'s state-dict names and shapes

torchvision is the real library (Debian's python3-torchvision 0.14). HF
transformers and timm cannot be installed here; their module names, shapes,
loading rules and forward passes are reproduced below from their code, file
by file:

  transformers src/transformers/models/swin/modeling_swin.py:
    SwinEmbeddings / SwinPatchEmbeddings (pad to a patch multiple, Conv2d
    "projection", LayerNorm "norm"); SwinSelfAttention (separate query, key,
    value Linear layers, relative_position_bias_table, persistent
    relative_position_index buffer (N, N)); SwinLayer (layernorm_before,
    attention.output.dense, layernorm_after, intermediate.dense with GELU,
    output.dense; set_shift_and_window_size: min(res) <= window -> no shift
    and window = min(res), unless always_partition; maybe_pad, then roll,
    get_attn_mask on the padded map with -100); SwinPatchMerging (pad odd
    sides, cat x0=[0::2,0::2], x1=[1::2,0::2], x2=[0::2,1::2],
    x3=[1::2,1::2], norm, reduction without bias); SwinEncoder / SwinStage
    (downsample after the blocks, hidden states before downsampling);
    SwinBackbone (always_partition=True, hidden_states_norms[stage] =
    nn.LayerNorm(channels) with the default eps, stage names "stem",
    "stage1".., out_features); SwinModel (layernorm after the last stage;
    base_model_prefix "swin").
  transformers src/transformers/modeling_utils.py: safetensors weights need
    __metadata__ format in {pt, tf, flax, mlx}; a checkpoint whose keys all
    carry the base-model prefix loads into the base model with the prefix
    stripped; missing and unexpected keys are only warnings, a shape
    mismatch an error (so the check below fails on any of the three).
  transformers src/transformers/models/swin/configuration_swin.py: the
    config fields (model_type "swin", embed_dim, depths, num_heads,
    window_size, mlp_ratio, qkv_bias, layer_norm_eps, hidden_act, stage
    names, out_features / out_indices).
  timm timm/models/swin_transformer.py (HEAD aa4b585): SwinTransformer
    (patch_embed.proj / .norm, layers.i = SwinTransformerStage with
    downsample at the *start* of stage i > 0, blocks with norm1,
    attn.qkv, attn.proj, attn.relative_position_bias_table, norm2,
    mlp.fc1, mlp.fc2, a non-persistent relative_position_index and
    attn_mask; norm; head.fc, an Identity for num_classes=0);
    _calc_window_shift (per axis, a map side <= window clamps the window to
    it and drops the shift, unless always_partition); _attn (roll, then pad,
    mask from get_attn_mask on the padded size); PatchMerging (pad odd
    sides, reshape(B, H/2, 2, W/2, 2, C).permute(0, 1, 3, 4, 2, 5).flatten(3),
    norm, reduction); checkpoint_filter_fn (drops relative_position_index
    and attn_mask; without head.fc.weight moves layers.N.downsample to
    layers.N+1.downsample and head. to head.fc.); forward_intermediates
    (stage outputs, NCHW, un-normalised; the last norm only with norm=True),
    forward_features (norm after the last stage).
  timm timm/models/_builder.py load_pretrained: pretrained_cfg_overlay
    file= loads the file (safetensors by extension); filter_fn; num_classes
    differing from the pretrained cfg's pops the classifier and makes the
    load non-strict, so missing keys would only be logged: the check below
    requires none missing and none unexpected.
"""

import argparse
import json
import math
import os
import re
import struct
import sys
from collections import OrderedDict

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import swin_ref as ref  # noqa: E402

MEAN_BGR = (103.53, 116.28, 123.675)
STD_BGR = (57.375, 57.12, 58.395)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class LoadError(Exception):
    pass


def fail(msg):
    raise LoadError(msg)


# ---------------------------------------------------------------------------
# make: random GLIP weights and one image in both pipelines' inputs.

def make(a):
    os.makedirs(a.out, exist_ok=True)
    depths = [int(s) for s in a.depths.split(",")]
    heads = [int(s) for s in a.heads.split(",")]
    sd = ref.random_official(a.embed, depths, heads, a.window, seed=a.seed)
    torch.save({"model": sd}, os.path.join(a.out, "official.pth"))
    g = torch.Generator().manual_seed(a.seed + 1)
    img = torch.randint(0, 256, (a.size, a.size, 3), generator=g, dtype=torch.uint8)  # RGB, HWC
    rgb = img.double()
    bgr = rgb.flip(-1)
    x_bgr = (bgr - torch.tensor(MEAN_BGR, dtype=torch.float64)) / torch.tensor(STD_BGR, dtype=torch.float64)
    x_rgb = (rgb / 255 - torch.tensor(IMAGENET_MEAN, dtype=torch.float64)) / torch.tensor(IMAGENET_STD, dtype=torch.float64)
    np.save(os.path.join(a.out, "input_bgr.npy"), x_bgr.permute(2, 0, 1)[None].float().numpy())
    np.save(os.path.join(a.out, "input_rgb.npy"), x_rgb.permute(2, 0, 1)[None].float().numpy())
    return 0


# ---------------------------------------------------------------------------
# Reading what glipctl wrote.

def read_safetensors_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def load_weights_file(path):
    if path.endswith(".safetensors"):
        return ref.load_safetensors(path)
    obj = torch.load(path, map_location="cpu")
    return obj


def official_norms(path):
    """GLIP's per-stage norms of the official file, by stage index."""
    sd = ref.load_weights(path)
    out = {}
    for k in range(8):
        w = sd.get(f"backbone.norm{k}.weight")
        if w is not None:
            out[k] = (w.double(), sd[f"backbone.norm{k}.bias"].double())
    return out


def arch_of_official(path):
    sd = ref.load_weights(path)
    return ref.arch_of(sd)


# ---------------------------------------------------------------------------
# torchvision: the real library.

def check_torchvision(a, x):
    import torchvision
    from torchvision.models.swin_transformer import SwinTransformer

    arch = arch_of_official(a.official)
    sd = load_weights_file(a.weights)
    if arch["embed"] == 96 and arch["depths"] == [2, 2, 6, 2] and arch["window"] == 7:
        model = torchvision.models.swin_t()
    else:
        model = SwinTransformer(patch_size=[4, 4], embed_dim=arch["embed"], depths=arch["depths"],
                                num_heads=arch["heads"], window_size=[arch["window"]] * 2,
                                stochastic_depth_prob=0.0)
    # strict=True except head.*: load with the model's own head added.
    own = model.state_dict()
    if any(k.startswith("head.") for k in sd):
        fail("the file has head.* keys, which GLIP has none of")
    full = OrderedDict(sd)
    full["head.weight"], full["head.bias"] = own["head.weight"], own["head.bias"]
    try:
        model.load_state_dict(full, strict=True)
    except RuntimeError as e:
        fail(f"torchvision load_state_dict(strict=True): {e}")
    r = torchvision.models.SwinTransformer.load_state_dict(model, sd, strict=False)
    if sorted(r.missing_keys) != ["head.bias", "head.weight"] or r.unexpected_keys:
        fail(f"missing {r.missing_keys}, unexpected {r.unexpected_keys}")
    model = model.double().eval()
    norms = official_norms(a.official)
    feats = {}
    with torch.no_grad():
        t = x
        stage = -1
        for i, layer in enumerate(model.features):
            t = layer(t)
            if i % 2 == 1:  # features.{2k+1}: stage k's blocks (NHWC)
                stage = (i - 1) // 2
                if stage == len(arch["depths"]) - 1:
                    y = model.norm(t)
                elif stage in norms:
                    w, b = norms[stage]
                    y = F.layer_norm(t, (t.shape[-1],), w, b, 1e-5)
                else:
                    continue
                feats[stage] = y.permute(0, 3, 1, 2)
    return feats


# ---------------------------------------------------------------------------
# HF transformers (reproduced).

def hf_expected(cfg, prefix, backbone):
    """(name -> shape) of SwinBackbone's / SwinModel's state_dict()."""
    e, p = cfg["embed_dim"], cfg["patch_size"]
    ks = OrderedDict()
    ks[prefix + "embeddings.patch_embeddings.projection.weight"] = (e, cfg["num_channels"], p, p)
    ks[prefix + "embeddings.patch_embeddings.projection.bias"] = (e,)
    ks[prefix + "embeddings.norm.weight"] = (e,)
    ks[prefix + "embeddings.norm.bias"] = (e,)
    w = cfg["window_size"]
    n = len(cfg["depths"])
    for i, d in enumerate(cfg["depths"]):
        c = e * 2 ** i
        hid = int(cfg["mlp_ratio"] * c)
        for j in range(d):
            b = f"{prefix}encoder.layers.{i}.blocks.{j}."
            for ln in ("layernorm_before", "layernorm_after"):
                ks[b + ln + ".weight"] = (c,)
                ks[b + ln + ".bias"] = (c,)
            ks[b + "attention.self.relative_position_bias_table"] = ((2 * w - 1) ** 2, cfg["num_heads"][i])
            ks[b + "attention.self.relative_position_index"] = (w * w, w * w)
            for q in ("query", "key", "value"):
                ks[b + f"attention.self.{q}.weight"] = (c, c)
                ks[b + f"attention.self.{q}.bias"] = (c,)
            ks[b + "attention.output.dense.weight"] = (c, c)
            ks[b + "attention.output.dense.bias"] = (c,)
            ks[b + "intermediate.dense.weight"] = (hid, c)
            ks[b + "intermediate.dense.bias"] = (hid,)
            ks[b + "output.dense.weight"] = (c, hid)
            ks[b + "output.dense.bias"] = (c,)
        if i < n - 1:
            b = f"{prefix}encoder.layers.{i}.downsample."
            ks[b + "reduction.weight"] = (2 * c, 4 * c)
            ks[b + "norm.weight"] = (4 * c,)
            ks[b + "norm.bias"] = (4 * c,)
    if backbone:
        names = cfg["stage_names"]
        chans = [e] + [e * 2 ** i for i in range(n)]
        for st in cfg["out_features"]:
            c = chans[names.index(st)]
            ks[f"hidden_states_norms.{st}.weight"] = (c,)
            ks[f"hidden_states_norms.{st}.bias"] = (c,)
    else:
        c = e * 2 ** (n - 1)
        ks[prefix + "layernorm.weight"] = (c,)
        ks[prefix + "layernorm.bias"] = (c,)
    return ks


def hf_load(a, layout):
    d = a.weights
    cfg = json.load(open(os.path.join(d, "config.json")))
    if cfg.get("model_type") != "swin":
        fail(f"config model_type {cfg.get('model_type')!r}, want 'swin'")
    backbone = layout == "hf"
    want_arch = "SwinBackbone" if backbone else "SwinModel"
    if cfg.get("architectures") != [want_arch]:
        fail(f"config architectures {cfg.get('architectures')}, want [{want_arch!r}]")
    names = cfg["stage_names"]
    if names != ["stem"] + [f"stage{i}" for i in range(1, len(cfg["depths"]) + 1)]:
        fail(f"stage_names {names}")
    if backbone and [names.index(s) for s in cfg["out_features"]] != cfg["out_indices"]:
        fail("out_features and out_indices disagree")
    for k in ("image_size", "patch_size", "num_channels", "embed_dim", "depths", "num_heads", "window_size",
              "mlp_ratio", "qkv_bias", "layer_norm_eps", "hidden_act", "drop_path_rate"):
        if k not in cfg:
            fail(f"config has no {k}")
    if cfg["hidden_act"] != "gelu" or cfg["drop_path_rate"] != 0 or cfg.get("use_absolute_embeddings"):
        fail("hidden_act, drop_path_rate or use_absolute_embeddings not as GLIP's")
    path = os.path.join(d, "model.safetensors")
    meta = read_safetensors_header(path).get("__metadata__") or {}
    if meta.get("format") not in ("pt", "tf", "flax", "mlx"):
        fail(f"safetensors __metadata__ format {meta.get('format')!r}: transformers refuses it")
    sd = ref.load_safetensors(path)
    # modeling_utils: keys that all carry the base-model prefix go into the
    # base model with it stripped; SwinBackbone has no "swin" attribute
    # either, so its keys must come bare.
    prefix = "swin."
    if all(k.startswith(prefix) for k in sd):
        sd = OrderedDict((k[len(prefix):], v) for k, v in sd.items())
    want = hf_expected(cfg, "", backbone)
    missing = [k for k in want if k not in sd]
    unexpected = [k for k in sd if k not in want]
    bad = [k for k in want if k in sd and tuple(sd[k].shape) != want[k]]
    if missing or unexpected or bad:
        fail(f"from_pretrained: missing {missing[:4]}, unexpected {unexpected[:4]}, shape mismatch {bad[:4]}")
    pre = json.load(open(os.path.join(d, "preprocessor_config.json")))
    if pre.get("image_processor_type") != "ViTImageProcessor" or pre.get("size", {}).get("height") != cfg["image_size"]:
        fail("preprocessor_config.json is not a ViTImageProcessor of the model's size")
    return cfg, sd, pre


def hf_attn_mask(hp, wp, window, shift, dtype):
    img = torch.zeros((1, hp, wp, 1), dtype=dtype)
    cnt = 0
    sl = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for hs in sl:
        for ws in sl:
            img[:, hs, ws, :] = cnt
            cnt += 1
    mw = ref.to_windows(img, window)[..., 0]
    m = mw[:, None, :] - mw[:, :, None]
    return m.masked_fill(m != 0, -100.0).masked_fill(m == 0, 0.0)


def hf_forward(cfg, sd, x, backbone):
    eps = cfg["layer_norm_eps"]
    p = cfg["patch_size"]
    _, _, H, W = x.shape
    x = F.pad(x, (0, (p - W % p) % p, 0, (p - H % p) % p))
    t = F.conv2d(x, sd["embeddings.patch_embeddings.projection.weight"], sd["embeddings.patch_embeddings.projection.bias"], stride=p)
    b, c, h, w = t.shape
    t = t.flatten(2).transpose(1, 2)
    t = F.layer_norm(t, (c,), sd["embeddings.norm.weight"], sd["embeddings.norm.bias"], 1e-5)
    hidden = {}
    for i, depth in enumerate(cfg["depths"]):
        heads = cfg["num_heads"][i]
        for j in range(depth):
            pre = f"encoder.layers.{i}.blocks.{j}."
            g = lambda n: sd[pre + n]  # noqa: E731
            window, shift = cfg["window_size"], (0 if j % 2 == 0 else cfg["window_size"] // 2)
            if not backbone and min(h, w) <= window:  # set_shift_and_window_size
                shift, window = 0, min(h, w)
            bsz, _, ch = t.shape
            short = t
            u = F.layer_norm(t, (ch,), g("layernorm_before.weight"), g("layernorm_before.bias"), eps).view(bsz, h, w, ch)
            pr, pb = (window - w % window) % window, (window - h % window) % window
            u = F.pad(u, (0, 0, 0, pr, 0, pb))
            hp, wp = u.shape[1], u.shape[2]
            if shift > 0:
                u = torch.roll(u, shifts=(-shift, -shift), dims=(1, 2))
            win = ref.to_windows(u, window)
            nt = window * window
            hd = ch // heads
            split = lambda y: y.view(y.shape[0], nt, heads, hd).permute(0, 2, 1, 3)  # noqa: E731
            q = split(F.linear(win, g("attention.self.query.weight"), g("attention.self.query.bias")))
            k = split(F.linear(win, g("attention.self.key.weight"), g("attention.self.key.bias")))
            v = split(F.linear(win, g("attention.self.value.weight"), g("attention.self.value.bias")))
            s = q @ k.transpose(-1, -2) / math.sqrt(hd)
            idx = g("attention.self.relative_position_index")
            if window != cfg["window_size"]:
                # The module keeps its (configured) index and table: HF
                # indexes them with the configured window's index and views
                # the bias as window^2 x window^2, which fails for a shrunk
                # window; glipctl's exports are tested at sizes where the
                # window is not shrunk.
                fail(f"HF SwinModel shrinks the window to {window} at stage {i}: not reproduced")
            bias = g("attention.self.relative_position_bias_table")[idx.view(-1)].view(nt, nt, -1).permute(2, 0, 1)
            s = s + bias[None]
            if shift > 0:
                m = hf_attn_mask(hp, wp, window, shift, s.dtype)
                s = s.view(-1, m.shape[0], heads, nt, nt) + m[None, :, None]
                s = s.view(-1, heads, nt, nt)
            o = (s.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(-1, nt, ch)
            o = F.linear(o, g("attention.output.dense.weight"), g("attention.output.dense.bias"))
            o = ref.from_windows(o, bsz, hp, wp, window)
            if shift > 0:
                o = torch.roll(o, shifts=(shift, shift), dims=(1, 2))
            o = o[:, :h, :w].reshape(bsz, h * w, ch)
            t = short + o
            y = F.layer_norm(t, (ch,), g("layernorm_after.weight"), g("layernorm_after.bias"), eps)
            y = F.gelu(F.linear(y, g("intermediate.dense.weight"), g("intermediate.dense.bias")))
            t = t + F.linear(y, g("output.dense.weight"), g("output.dense.bias"))
        hidden[i] = (t, h, w)
        if i < len(cfg["depths"]) - 1:
            pre = f"encoder.layers.{i}.downsample."
            bsz, _, ch = t.shape
            u = t.view(bsz, h, w, ch)
            u = F.pad(u, (0, 0, 0, w % 2, 0, h % 2))
            u = torch.cat([u[:, 0::2, 0::2], u[:, 1::2, 0::2], u[:, 0::2, 1::2], u[:, 1::2, 1::2]], -1).view(bsz, -1, 4 * ch)
            u = F.layer_norm(u, (4 * ch,), sd[pre + "norm.weight"], sd[pre + "norm.bias"], 1e-5)
            t = F.linear(u, sd[pre + "reduction.weight"])
            h, w = (h + 1) // 2, (w + 1) // 2
    return hidden


def check_hf(a, x, layout):
    cfg, sd, pre = hf_load(a, layout)
    sd = OrderedDict((k, v.double() if v.is_floating_point() else v) for k, v in sd.items())
    backbone = layout == "hf"
    if backbone and pre.get("do_rescale") and (pre["image_mean"] != list(IMAGENET_MEAN) or pre["image_std"] != list(IMAGENET_STD)):
        fail("an RGB export's image processor does not normalise with ImageNet's mean and std")
    hidden = hf_forward(cfg, sd, x, backbone)
    norms = official_norms(a.official)
    feats = {}
    n = len(cfg["depths"])
    for i, (t, h, w) in hidden.items():
        c = t.shape[-1]
        if backbone:
            st = f"stage{i + 1}"
            if st not in cfg["out_features"]:
                continue
            y = F.layer_norm(t, (c,), sd[f"hidden_states_norms.{st}.weight"], sd[f"hidden_states_norms.{st}.bias"], 1e-5)
        elif i == n - 1:
            y = F.layer_norm(t, (c,), sd["layernorm.weight"], sd["layernorm.bias"], cfg["layer_norm_eps"])
        elif i in norms:
            y = F.layer_norm(t, (c,), norms[i][0], norms[i][1], 1e-5)
        else:
            continue
        feats[i] = y.view(t.shape[0], h, w, c).permute(0, 3, 1, 2)
    return feats


# ---------------------------------------------------------------------------
# timm (reproduced).

def timm_filter(state_dict):
    """checkpoint_filter_fn of timm/models/swin_transformer.py."""
    old = "head.fc.weight" not in state_dict
    out = OrderedDict()
    state_dict = state_dict.get("model", state_dict)
    state_dict = state_dict.get("state_dict", state_dict)
    for k, v in state_dict.items():
        if any(n in k for n in ("relative_position_index", "attn_mask")):
            continue
        if old:
            k = re.sub(r"layers.(\d+).downsample", lambda m: f"layers.{int(m.group(1)) + 1}.downsample", k)
            k = k.replace("head.", "head.fc.")
        out[k] = v
    return out


TIMM_ARCHS = {
    "swin_tiny_patch4_window7_224": dict(patch_size=4, window_size=7, embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), img_size=224),
    "swin_large_patch4_window12_384": dict(patch_size=4, window_size=12, embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48), img_size=384),
}


def timm_expected(m):
    """SwinTransformer(num_classes=0).state_dict() names and shapes."""
    e, p = m["embed_dim"], m["patch_size"]
    ks = OrderedDict()
    ks["patch_embed.proj.weight"] = (e, 3, p, p)
    ks["patch_embed.proj.bias"] = (e,)
    ks["patch_embed.norm.weight"] = (e,)
    ks["patch_embed.norm.bias"] = (e,)
    w = m["window_size"]
    for i, d in enumerate(m["depths"]):
        c = e * 2 ** i
        if i > 0:
            ks[f"layers.{i}.downsample.norm.weight"] = (2 * c,)
            ks[f"layers.{i}.downsample.norm.bias"] = (2 * c,)
            ks[f"layers.{i}.downsample.reduction.weight"] = (c, 2 * c)
        for j in range(d):
            b = f"layers.{i}.blocks.{j}."
            ks[b + "norm1.weight"], ks[b + "norm1.bias"] = (c,), (c,)
            ks[b + "attn.relative_position_bias_table"] = ((2 * w - 1) ** 2, m["num_heads"][i])
            ks[b + "attn.qkv.weight"], ks[b + "attn.qkv.bias"] = (3 * c, c), (3 * c,)
            ks[b + "attn.proj.weight"], ks[b + "attn.proj.bias"] = (c, c), (c,)
            ks[b + "norm2.weight"], ks[b + "norm2.bias"] = (c,), (c,)
            ks[b + "mlp.fc1.weight"], ks[b + "mlp.fc1.bias"] = (4 * c, c), (4 * c,)
            ks[b + "mlp.fc2.weight"], ks[b + "mlp.fc2.bias"] = (c, 4 * c), (c,)
    c = e * 2 ** (len(m["depths"]) - 1)
    ks["norm.weight"], ks["norm.bias"] = (c,), (c,)
    return ks


def timm_calc_window_shift(res, window, shift):
    ws = [r if r <= window else window for r in res]
    ss = [0 if r <= w_ else shift for r, w_ in zip(res, ws)]
    return ws, ss


def timm_mask(hp, wp, ws, ss, dtype):
    img = torch.zeros((1, hp, wp, 1), dtype=dtype)
    cnt = 0
    for h0, h1 in ((0, -ws[0]), (-ws[0], -ss[0]), (-ss[0], None)):
        for w0, w1 in ((0, -ws[1]), (-ws[1], -ss[1]), (-ss[1], None)):
            img[:, h0:h1, w0:w1, :] = cnt
            cnt += 1
    b, H, W, c = img.shape
    mw = img.view(b, H // ws[0], ws[0], W // ws[1], ws[1], c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws[0] * ws[1])
    m = mw[:, None, :] - mw[:, :, None]
    return m.masked_fill(m != 0, -100.0).masked_fill(m == 0, 0.0)


def timm_forward(m, sd, x):
    """forward_intermediates' stage outputs (NHWC), with the model's
    input_resolution fixed at img_size (strict_img_size)."""
    p = m["patch_size"]
    t = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=p).permute(0, 2, 3, 1)
    t = F.layer_norm(t, (t.shape[-1],), sd["patch_embed.norm.weight"], sd["patch_embed.norm.bias"], 1e-5)
    outs = {}
    for i, depth in enumerate(m["depths"]):
        if i > 0:
            pre = f"layers.{i}.downsample."
            B, H, W, C = t.shape
            t = F.pad(t, (0, 0, 0, W % 2, 0, H % 2))
            B, H, W, C = t.shape
            t = t.reshape(B, H // 2, 2, W // 2, 2, C).permute(0, 1, 3, 4, 2, 5).flatten(3)
            t = F.layer_norm(t, (4 * C,), sd[pre + "norm.weight"], sd[pre + "norm.bias"], 1e-5)
            t = F.linear(t, sd[pre + "reduction.weight"])
        heads = m["num_heads"][i]
        for j in range(depth):
            pre = f"layers.{i}.blocks.{j}."
            g = lambda n: sd[pre + n]  # noqa: E731
            B, H, W, C = t.shape
            ws, ss = timm_calc_window_shift((H, W), m["window_size"], 0 if j % 2 == 0 else m["window_size"] // 2)
            if ws != [m["window_size"]] * 2:
                fail(f"timm clamps the window to {ws} at stage {i}: not reproduced")
            u = F.layer_norm(t, (C,), g("norm1.weight"), g("norm1.bias"), 1e-5)
            if any(ss):
                u = torch.roll(u, shifts=(-ss[0], -ss[1]), dims=(1, 2))
            ph, pw = (ws[0] - H % ws[0]) % ws[0], (ws[1] - W % ws[1]) % ws[1]
            u = F.pad(u, (0, 0, 0, pw, 0, ph))
            Hp, Wp = u.shape[1], u.shape[2]
            win = u.view(B, Hp // ws[0], ws[0], Wp // ws[1], ws[1], C).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws[0] * ws[1], C)
            nt = ws[0] * ws[1]
            qkv = F.linear(win, g("attn.qkv.weight"), g("attn.qkv.bias")).reshape(win.shape[0], nt, 3, heads, -1).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            hd = C // heads
            s = (q * hd ** -0.5) @ k.transpose(-2, -1)
            idx = ref.rel_position_index(ws[0])
            s = s + g("attn.relative_position_bias_table")[idx.view(-1)].view(nt, nt, -1).permute(2, 0, 1)[None]
            if any(ss):
                mk = timm_mask(Hp, Wp, ws, ss, s.dtype)
                s = s.view(-1, mk.shape[0], heads, nt, nt) + mk[None, :, None]
                s = s.view(-1, heads, nt, nt)
            o = (s.softmax(-1) @ v).transpose(1, 2).reshape(win.shape[0], nt, -1)
            o = F.linear(o, g("attn.proj.weight"), g("attn.proj.bias"))
            o = o.view(B, Hp // ws[0], Wp // ws[1], ws[0], ws[1], C).permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, C)
            o = o[:, :H, :W]
            if any(ss):
                o = torch.roll(o, shifts=tuple(ss), dims=(1, 2))
            t = t + o
            y = t.reshape(B, -1, C)
            y = y + F.linear(F.gelu(F.linear(F.layer_norm(y, (C,), g("norm2.weight"), g("norm2.bias"), 1e-5), g("mlp.fc1.weight"), g("mlp.fc1.bias"))), g("mlp.fc2.weight"), g("mlp.fc2.bias"))
            t = y.reshape(B, H, W, C)
        outs[i] = t
    return outs


def check_timm(a, x):
    d = a.weights
    cfg = json.load(open(os.path.join(d, "config.json")))
    name = cfg.get("architecture")
    if name not in TIMM_ARCHS:
        fail(f"config architecture {name!r} is not one of {list(TIMM_ARCHS)}")
    for k in ("num_features", "pretrained_cfg"):
        if k not in cfg:
            fail(f"config has no {k}")
    pc = cfg["pretrained_cfg"]
    for k in ("input_size", "mean", "std", "interpolation"):
        if k not in pc:
            fail(f"pretrained_cfg has no {k}")
    # create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=...)):
    # the registered architecture's arguments. The tests' smaller models pass
    # their own as model_args (what the hub's config.json carries).
    m = dict(TIMM_ARCHS[name])
    m.update(cfg.get("model_args") or {})
    sd = timm_filter(ref.load_safetensors(os.path.join(d, "model.safetensors")))
    # num_classes=0 differs from the pretrained cfg's 1000: load_pretrained
    # pops head.fc.* and loads non-strictly; both features_only and the
    # classifier-less model have exactly these keys.
    for k in ("head.fc.weight", "head.fc.bias"):
        sd.pop(k, None)
    want = timm_expected(m)
    missing = [k for k in want if k not in sd]
    unexpected = [k for k in sd if k not in want]
    bad = [k for k in want if k in sd and tuple(sd[k].shape) != want[k]]
    if missing or unexpected or bad:
        fail(f"timm load: missing {missing[:4]}, unexpected {unexpected[:4]}, shape mismatch {bad[:4]}")
    if cfg["num_features"] != m["embed_dim"] * 2 ** (len(m["depths"]) - 1):
        fail("num_features is not the last stage's width")
    if pc["input_size"][1:] != [m["img_size"], m["img_size"]]:
        fail("pretrained_cfg input_size is not the model's")
    sd = OrderedDict((k, v.double()) for k, v in sd.items())
    outs = timm_forward(m, sd, x)
    norms = official_norms(a.official)
    feats = {}
    last = len(m["depths"]) - 1
    for i, t in outs.items():
        if i == last:  # forward_features' norm
            y = F.layer_norm(t, (t.shape[-1],), sd["norm.weight"], sd["norm.bias"], 1e-5)
        elif i in norms:  # features_only gives the un-normalised stage output
            y = F.layer_norm(t, (t.shape[-1],), norms[i][0], norms[i][1], 1e-5)
        else:
            continue
        feats[i] = y.permute(0, 3, 1, 2)
    return feats


def check(a):
    status = 0
    for case in a.case:
        parts = case.split(":")
        layout, weights, out = parts[:3]
        x = torch.from_numpy(np.load(parts[3] if len(parts) > 3 else a.input)).double()
        a.layout, a.weights = layout, weights
        try:
            if layout == "torchvision":
                feats = check_torchvision(a, x)
            elif layout in ("hf", "hf-model"):
                feats = check_hf(a, x, layout)
            elif layout == "timm":
                feats = check_timm(a, x)
            else:
                raise SystemExit(f"unknown layout {layout}")
        except LoadError as e:
            print(f"{layout}: {weights}: {e}", file=sys.stderr)
            status = 1
            continue
        ref.save_safetensors(out, {f"stage{k}": v.float() for k, v in sorted(feats.items())})
    return status


def names(a):
    """torchvision.models.swin_t()'s state_dict names and shapes, as JSON."""
    import torchvision
    sd = torchvision.models.swin_t().state_dict()
    json.dump([[k, list(v.shape)] for k, v in sd.items()], open(a.out, "w"))
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--embed", type=int, required=True)
    m.add_argument("--depths", required=True)
    m.add_argument("--heads", required=True)
    m.add_argument("--window", type=int, required=True)
    m.add_argument("--size", type=int, required=True)
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--case", action="append", required=True, help="LAYOUT:WEIGHTS:OUT[:INPUT], repeatable")
    c.add_argument("--official", required=True)
    c.add_argument("--input", required=True)
    n = sub.add_parser("names")
    n.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    return {"make": make, "check": check, "names": names}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
