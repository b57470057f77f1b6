#!/usr/bin/python3
"""Generate glipctl's committed test fixtures and their torch-computed expectations.

Run with Debian's python (python3-torch 1.13, numpy), not a pyenv/venv python:

    /usr/bin/python3 scripts/make_fixtures.py [OUTDIR]     # default: testdata/

Writes OUTDIR/<name>.pth and OUTDIR/expected/<name>.json (and, through
scripts/unsupported_fixtures.py, unsupported.pth: complex, quantized and sparse tensors). Deterministic: seeded RNG, one
intra-op thread, and the legacy (non-zip) file's storage keys canonicalised (see
save_legacy_canonical). scripts/check_fixtures.sh regenerates into a temp dir and compares.

The model is a tiny Swin in the official GLIP layout (see SMALL below and
docs/glip.md section 2); the mmpretrain fixture is made from it with
scripts/glip_remap.py.

Expectation JSON (one per fixture):
  {"file", "format": "zip"|"legacy",
   "torch_loaded": true if computed from torch.load of the file, false for the hostile
                   files (computed from the saved objects; they are never loaded),
   "stats_over": "finite",
   "pickle_globals": sorted GLOBAL opcodes ("module name") found by pickletools in the
                     object pickle(s),
   "tensors": [{"name", "dtype", "shape", "numel", "stats", "sha256"}],
   "leaves":  [{"name", "type", "value", "repr"}]}
Names are key paths joined by "/" (list/tuple indexes and int keys as decimal), in
depth-first insertion order of the object torch.load returns. stats are float64 over the
finite values only (min, max, mean, std unbiased (null if fewer than 2), absmax); zeros,
nan, inf count all elements; null where undefined. sha256 is over the tensor's contiguous
little-endian bytes (bf16 as its raw 16-bit patterns, bool as 0/1 bytes).
The hostile fixtures are never loaded: their expectation comes from the saved objects.
"""

import builtins
import collections
import hashlib
import io
import json
import math
import os
import pickle
import pickletools
import random
import struct
import sys
import zipfile
from collections import OrderedDict

import torch

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from glip_remap import remap  # noqa: E402

SEED = 20240601
PICKLE_PROTOCOL = 2  # torch.serialization.DEFAULT_PROTOCOL in 1.13; pinned explicitly

# The small Swin. head_dim = 8 at every stage.
SMALL = dict(embed_dim=8, depths=(2, 2, 2, 2), heads=(1, 2, 4, 8), window=7, patch=4,
             mlp_ratio=4, in_chans=3, out_indices=(1, 2, 3))

DTYPE_NAMES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
    torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}


# ----------------------------------------------------------------------------- model


class Rand:
    """All randomness comes from one seeded torch.Generator, consumed in a fixed order."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, *shape, std=1.0, mean=0.0, dtype=torch.float32):
        return torch.randn(*shape, generator=self.g, dtype=dtype) * std + mean

    def linear(self, out_f, in_f):
        return self.normal(out_f, in_f, std=in_f ** -0.5)

    def bias(self, n, std=0.05):
        return self.normal(n, std=std)

    def ln_weight(self, n):
        return self.normal(n, std=0.1, mean=1.0)


def relative_position_index(window):
    """The Swin relative position index (int64, window^2 x window^2)."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                        indexing="ij"))  # 2, w, w
    flat = torch.flatten(coords, 1)  # 2, w*w
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    return rel.sum(-1).to(torch.int64)


# Tensors stored as nn.Parameter (so _rebuild_parameter appears in the pickle).
AS_PARAMETER = {
    "module.backbone.body.patch_embed.proj.weight",
    "module.backbone.body.layers.0.blocks.0.attn.relative_position_bias_table",
    "module.backbone.body.norm3.weight",
    "module.language_backbone.body.model.embeddings.word_embeddings.weight",
}


def official_model(r, cfg=SMALL):
    """OrderedDict in the official GLIP layout, in nn.Module.state_dict() order."""
    c, w = cfg["embed_dim"], cfg["window"]
    p = cfg["patch"]
    sd = OrderedDict()
    b = "module.backbone.body."
    sd[b + "patch_embed.proj.weight"] = r.normal(c, cfg["in_chans"], p, p,
                                                 std=(cfg["in_chans"] * p * p) ** -0.5)
    sd[b + "patch_embed.proj.bias"] = r.bias(c)
    sd[b + "patch_embed.norm.weight"] = r.ln_weight(c)
    sd[b + "patch_embed.norm.bias"] = r.bias(c)
    nstages = len(cfg["depths"])
    for i, (depth, heads) in enumerate(zip(cfg["depths"], cfg["heads"])):
        dim = c * 2 ** i
        hidden = dim * cfg["mlp_ratio"]
        for j in range(depth):
            k = f"{b}layers.{i}.blocks.{j}."
            sd[k + "norm1.weight"] = r.ln_weight(dim)
            sd[k + "norm1.bias"] = r.bias(dim)
            # WindowAttention: own parameter, own buffer, then children qkv, proj.
            sd[k + "attn.relative_position_bias_table"] = r.normal((2 * w - 1) ** 2, heads,
                                                                   std=0.2)
            sd[k + "attn.relative_position_index"] = relative_position_index(w)
            sd[k + "attn.qkv.weight"] = r.linear(3 * dim, dim)
            sd[k + "attn.qkv.bias"] = r.bias(3 * dim)
            sd[k + "attn.proj.weight"] = r.linear(dim, dim)
            sd[k + "attn.proj.bias"] = r.bias(dim)
            sd[k + "norm2.weight"] = r.ln_weight(dim)
            sd[k + "norm2.bias"] = r.bias(dim)
            sd[k + "mlp.fc1.weight"] = r.linear(hidden, dim)
            sd[k + "mlp.fc1.bias"] = r.bias(hidden)
            sd[k + "mlp.fc2.weight"] = r.linear(dim, hidden)
            sd[k + "mlp.fc2.bias"] = r.bias(dim)
        if i < nstages - 1:
            k = f"{b}layers.{i}.downsample."
            sd[k + "reduction.weight"] = r.linear(2 * dim, 4 * dim)
            sd[k + "norm.weight"] = r.ln_weight(4 * dim)
            sd[k + "norm.bias"] = r.bias(4 * dim)
    for i in cfg["out_indices"]:
        sd[f"{b}norm{i}.weight"] = r.ln_weight(c * 2 ** i)
        sd[f"{b}norm{i}.bias"] = r.bias(c * 2 ** i)

    # Not backbone: FPN, BERT language backbone, RPN head (small, arbitrary shapes).
    f = "module.backbone.fpn."
    fpn_c = 24
    sd[f + "fpn_inner2.weight"] = r.normal(fpn_c, 2 * c, 1, 1, std=0.1)
    sd[f + "fpn_inner2.bias"] = r.bias(fpn_c)
    sd[f + "fpn_layer2.weight"] = r.normal(fpn_c, fpn_c, 3, 3, std=0.05)
    sd[f + "fpn_layer2.bias"] = r.bias(fpn_c)
    lb = "module.language_backbone.body.model."
    sd[lb + "embeddings.word_embeddings.weight"] = r.normal(100, 32, std=0.02)
    sd[lb + "embeddings.position_embeddings.weight"] = r.normal(16, 32, std=0.02)
    sd[lb + "embeddings.LayerNorm.weight"] = r.ln_weight(32)
    sd[lb + "embeddings.LayerNorm.bias"] = r.bias(32)
    sd["module.rpn.head.bbox_pred.weight"] = r.normal(4, fpn_c, 3, 3, std=0.01)
    sd["module.rpn.head.bbox_pred.bias"] = r.bias(4)
    sd["module.rpn.anchor_generator.cell_anchors.0"] = torch.tensor(
        [[-22.0, -10.0, 25.0, 13.0]])

    for name in AS_PARAMETER:
        sd[name] = torch.nn.Parameter(sd[name])

    # nn.Module.state_dict() (what GLIP's checkpointer saves) returns an OrderedDict with a
    # `_metadata` attribute: module path -> {"version": ...}. It pickles as a BUILD of
    # {"_metadata": OrderedDict(...)} after the items. Reproduce it for the modules that
    # own tensors and their parents, in pre-order.
    meta = OrderedDict([("", {"version": 1})])
    for key in sd:
        parts = key.split(".")[:-1]
        for n in range(1, len(parts) + 1):
            meta.setdefault(".".join(parts[:n]), {"version": 1})
    sd._metadata = meta
    return sd


def official_checkpoint(r):
    model = official_model(r)
    b = "module.backbone.body."
    # torch.optim.SGD(momentum=0.9).state_dict() shape, for two parameters only.
    optimizer = {
        "state": {
            0: {"momentum_buffer": r.normal(*model[b + "patch_embed.proj.weight"].shape,
                                            std=1e-3)},
            1: {"momentum_buffer": r.normal(*model[b + "patch_embed.proj.bias"].shape,
                                            std=1e-3)},
        },
        "param_groups": [{
            "lr": 0.01, "momentum": 0.9, "dampening": 0, "weight_decay": 0.0001,
            "nesterov": False, "maximize": False, "foreach": None,
            "differentiable": False, "params": [0, 1],
        }],
    }
    scheduler = {
        "milestones": [67500, 80000], "gamma": 0.1, "warmup_factor": 0.001,
        "warmup_iters": 500, "warmup_method": "linear", "base_lrs": [0.01],
        "last_epoch": 1000, "_step_count": 1001,
    }
    return {"model": model, "optimizer": optimizer, "scheduler": scheduler,
            "iteration": 1000}


def cast_model(model, dtype):
    out = OrderedDict()
    for k, v in model.items():
        v = v.detach()
        out[k] = v.to(dtype) if v.is_floating_point() else v.clone()
    return out


# ----------------------------------------------------------------------------- views


def views_object(r):
    base = torch.arange(20, dtype=torch.float32) * 0.5 - 3.0
    grid = base.view(4, 5)
    x = r.normal(5, 6)  # only a strided slice of x is saved
    y = r.normal(3, 4, dtype=torch.float64)  # only its transpose is saved
    special = torch.tensor([math.nan, math.inf, -math.inf, 0.0, -0.0, 1.5, -2.25, math.nan,
                            65504.0, 1e-8])
    return {
        "base": base,
        "slice": base[2:10],                      # storage offset 2
        "grid": base.view(4, 5),
        "grid_t": grid.t(),                       # non-contiguous, same storage
        "grid_cols": grid[:, ::2],                # strided slice, same storage
        "grid_block": grid[1:3, 2:5],             # offset 7, strides (5, 1)
        "only_strided": x[:, ::2],                # storage of 30, 15 used
        "f64_t": y.t(),                           # float64 transposed
        "expanded": torch.tensor([1.0, -2.0, 3.0]).expand(4, 3),  # stride (0, 1)
        "scalar": torch.tensor(3.25),             # 0-d
        "scalar_i64": torch.tensor(-7),
        "empty": torch.zeros(0, 3),
        "bool": torch.tensor([[True, False, True], [False, False, True]]),
        "i64": torch.tensor([-(2 ** 40), -1, 0, 1, 2 ** 40, 123456789], dtype=torch.int64),
        "i32": torch.tensor([-(2 ** 31), -1, 0, 1, 2 ** 31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-(2 ** 15), -1, 0, 1, 2 ** 15 - 1], dtype=torch.int16),
        "i8": torch.tensor([[-128, -1, 0], [1, 7, 127]], dtype=torch.int8),
        "u8": torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8),
        "f64": r.normal(3, 3, dtype=torch.float64),
        "special": special,
        "special_f16": special.half(),            # 1e-8 underflows to 0 in f16
        "special_bf16": special.bfloat16(),       # 65504 rounds to 65536 in bf16
        "nested": {
            "list": [
                {"inner": base[5:9], "k": 1},     # a view deep inside, same storage
                (grid[2], "text", 2.5),           # tuple value, row view
                [],
            ],
            3: {"int_key": torch.arange(6, dtype=torch.int32).view(2, 3)},
            "tuple": (1, (2, 3), None, True),
        },
    }


# ----------------------------------------------------------------------------- hostile


class Reduce:
    """Pickles as a call of `fn(*args)`. Only ever pickled here, never unpickled."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, tuple(args)

    def __reduce__(self):
        return (self.fn, self.args)


def hostile_object():
    return {"weight": torch.arange(4, dtype=torch.float32),
            "payload": Reduce(os.system, ("echo pwned",))}


def hostile_eval_object():
    return {"weight": torch.tensor([[1.0, -1.0], [0.5, 0.0]]),
            "payload": Reduce(builtins.eval, ("__import__('os').system('echo pwned')",))}


# ----------------------------------------------------------------------------- saving


def save_zip(obj, path):
    # The zip writer (miniz) stores no timestamps (1980-00-00), names records by the
    # first-appearance order of storages and uses the file's stem as the archive
    # directory, so the bytes depend only on obj and the file name.
    torch.save(obj, path, pickle_protocol=PICKLE_PROTOCOL)


def _pickle_end(buf, pos):
    f = io.BytesIO(buf)
    f.seek(pos)
    for _ in pickletools.genops(f):
        pass
    return f.tell()


def _walk_tensors(obj, out):
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _walk_tensors(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _walk_tensors(v, out)


def save_legacy_canonical(obj, path, seed):
    """torch.save(obj, _use_new_zipfile_serialization=False), with its storage keys made
    deterministic.

    torch 1.13 _legacy_save names each storage str(storage._cdata): the StorageImpl's
    memory address, different on every run. It writes the key list sorted as strings and
    the storages in that order. We take torch's own output and rename the keys to
    same-length decimal strings that look like addresses (so the file is still what
    torch would have written had the storages lived there), assigned by a seeded shuffle
    of first-appearance order: the data order still differs from the pickle order, as in
    real files. Everything else is torch's bytes unchanged.
    """
    raw_io = io.BytesIO()
    torch.save(obj, raw_io, pickle_protocol=PICKLE_PROTOCOL,
               _use_new_zipfile_serialization=False)
    raw = raw_io.getvalue()

    pos = 0
    for _ in range(3):  # magic number, protocol version, sys_info
        pos = _pickle_end(raw, pos)
    obj_start, obj_end = pos, _pickle_end(raw, pos)
    keys_end = _pickle_end(raw, obj_end)
    old_keys = pickle.loads(raw[obj_end:keys_end])  # a list of str we just wrote
    assert isinstance(old_keys, list) and all(isinstance(k, str) for k in old_keys)
    keyset = set(old_keys)

    # element size of each storage, from the live tensors (key == str(_cdata)).
    tensors = []
    _walk_tensors(obj, tensors)
    esize = {}
    for t in tensors:
        esize[str(t.storage()._cdata)] = t.element_size()
    assert keyset <= set(esize), "legacy key not found among the saved tensors"

    # Object pickle: rewrite the BINUNICODE ops that carry a storage key.
    body = raw[obj_start:obj_end]
    ops = list(pickletools.genops(body))
    order = []
    for op, arg, _ in ops:
        if isinstance(arg, str) and arg in keyset:
            assert op.name == "BINUNICODE", op.name
            if arg not in order:
                order.append(arg)
    assert set(order) == keyset
    slots = list(range(len(order)))
    random.Random(seed).shuffle(slots)
    new_name = {old: str(140000000000000 + 4096 * s) for old, s in zip(order, slots)}

    new_body = bytearray()
    for i, (op, arg, start) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(body)
        if op.name == "BINUNICODE" and arg in keyset:
            enc = new_name[arg].encode()
            new_body += b"X" + struct.pack("<I", len(enc)) + enc
        else:
            new_body += body[start:end]

    # Storages: 8-byte little-endian element count, then the bytes, in key-list order.
    blobs = {}
    p = keys_end
    for k in old_keys:
        (n,) = struct.unpack("<q", raw[p:p + 8])
        size = 8 + n * esize[k]
        blobs[new_name[k]] = raw[p:p + size]
        p += size
    assert p == len(raw), "legacy storages do not add up to the file size"

    new_keys = sorted(blobs)  # what torch does: sorted(serialized_storages.keys())
    out = bytearray(raw[:obj_start])
    out += new_body
    out += pickle.dumps(new_keys, protocol=PICKLE_PROTOCOL)
    for k in new_keys:
        out += blobs[k]
    with open(path, "wb") as f:
        f.write(out)


# ----------------------------------------------------------------------------- pickle globals


def pickle_globals(path):
    """GLOBAL opcodes of the object pickle(s); pickletools only parses, never executes."""
    found = set()

    def scan(data, pos=0):
        f = io.BytesIO(data)
        f.seek(pos)
        for op, arg, _ in pickletools.genops(f):
            if op.name in ("GLOBAL", "INST"):
                found.add(arg)
            elif op.name == "STACK_GLOBAL":
                found.add("<STACK_GLOBAL>")
        return f.tell()

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("/data.pkl")]
            assert len(names) == 1, names
            scan(z.read(names[0]))
    else:
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        for _ in range(5):  # magic, protocol, sys_info, object, storage keys
            pos = scan(data, pos)
    return sorted(found)


# ----------------------------------------------------------------------------- expectations


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def tensor_stats(t):
    d = t.detach().to(torch.float64).reshape(-1)
    n_nan = int(torch.isnan(d).sum())
    n_inf = int(torch.isinf(d).sum())
    zeros = int((d == 0).sum())
    f = d[torch.isfinite(d)]
    s = {"min": None, "max": None, "mean": None, "std": None, "absmax": None,
         "zeros": zeros, "nan": n_nan, "inf": n_inf}
    if f.numel() > 0:
        s["min"] = _num(f.min())
        s["max"] = _num(f.max())
        s["mean"] = _num(f.mean())
        s["absmax"] = _num(f.abs().max())
        if f.numel() >= 2:
            s["std"] = _num(f.std())  # unbiased, like torch.Tensor.std()
    return s


def tensor_sha256(t):
    c = t.detach().contiguous()
    if c.dtype == torch.bfloat16:
        c = c.view(torch.int16)
    assert sys.byteorder == "little"
    return hashlib.sha256(c.numpy().tobytes()).hexdigest()


def describe_tensor(name, t):
    return {"name": name, "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
            "numel": t.numel(), "stats": tensor_stats(t), "sha256": tensor_sha256(t)}


def describe_leaf(name, v):
    leaf = {"name": name}
    if v is None:
        leaf.update(type="none", value=None)
    elif isinstance(v, bool):
        leaf.update(type="bool", value=v)
    elif isinstance(v, int):
        leaf.update(type="int", value=v)
    elif isinstance(v, float):
        leaf.update(type="float", value=_num(v))
    elif isinstance(v, str):
        leaf.update(type="str", value=v)
    elif isinstance(v, (list, tuple, dict)):  # only empty ones reach here
        leaf.update(type=type(v).__name__, value=[] if not isinstance(v, dict) else {})
    elif isinstance(v, Reduce):
        fn = f"{v.fn.__module__}.{v.fn.__qualname__}"
        leaf.update(type="reduce", value=fn, args=list(v.args))
        leaf["repr"] = f"{fn}({', '.join(repr(a) for a in v.args)})"
        return leaf
    else:
        raise TypeError(f"{name}: no leaf description for {type(v)}")
    leaf["repr"] = repr(v)
    return leaf


def walk(obj, path, tensors, leaves):
    if isinstance(obj, torch.Tensor):
        tensors.append(describe_tensor("/".join(path), obj))
    elif isinstance(obj, dict) and obj:
        for k, v in obj.items():
            assert isinstance(k, (str, int)) and not isinstance(k, bool), k
            assert "/" not in str(k), k
            walk(v, path + [str(k)], tensors, leaves)
    elif isinstance(obj, (list, tuple)) and obj:
        for i, v in enumerate(obj):
            walk(v, path + [str(i)], tensors, leaves)
    else:
        leaves.append(describe_leaf("/".join(path), obj))


def expectation(path, obj, fmt, torch_loaded):
    tensors, leaves = [], []
    walk(obj, [], tensors, leaves)
    return OrderedDict([
        ("file", os.path.basename(path)), ("format", fmt), ("torch_loaded", torch_loaded),
        ("stats_over", "finite"),
        ("pickle_globals", pickle_globals(path)), ("tensors", tensors), ("leaves", leaves),
    ])


def write_json(path, data):
    """Plain JSON; one line per top-level field and per tensor / leaf (diff-friendly)."""
    def dump(v):
        return json.dumps(v, allow_nan=False, ensure_ascii=True)

    fields = []
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            items = ",\n".join("  " + dump(x) for x in value)
            fields.append(f" {dump(key)}: [\n{items}\n ]")
        else:
            fields.append(f" {dump(key)}: {dump(value)}")
    text = "{\n" + ",\n".join(fields) + "\n}\n"
    json.loads(text)  # well-formed
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write(text)


# ----------------------------------------------------------------------------- checks


def same_values(a, b, where):
    """The loaded object equals the saved one (tensors: dtype, shape, values, NaN-aware)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
        assert tensor_sha256(a) == tensor_sha256(b), where
    elif isinstance(a, dict):
        assert type(a) is type(b) and list(a) == list(b), where
        assert getattr(a, "_metadata", None) == getattr(b, "_metadata", None), where
        for k in a:
            same_values(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same_values(x, y, f"{where}/{i}")
    else:
        assert type(a) is type(b) and a == b, where


def check_view_sharing(loaded):
    """torch.load must give back the shared storages (sanity check of the fixture)."""
    ptr = loaded["base"].storage().data_ptr()
    for k in ("slice", "grid", "grid_t", "grid_cols", "grid_block"):
        assert loaded[k].storage().data_ptr() == ptr, k
    assert loaded["nested"]["list"][0]["inner"].storage().data_ptr() == ptr
    assert loaded["nested"]["list"][1][0].storage().data_ptr() == ptr
    assert loaded["slice"].storage_offset() == 2
    assert loaded["grid_t"].stride() == (1, 5)
    assert loaded["grid_cols"].stride() == (5, 2)
    assert loaded["expanded"].stride() == (0, 1) and loaded["expanded"].storage().size() == 3
    assert loaded["only_strided"].storage().size() == 30


def check_remap_merging(model, mm_sd, cfg=SMALL):
    """The remapped downsample tensors must make mmpretrain's nn.Unfold patch merging
    compute what GLIP's concat(x0, x1, x2, x3) merging computes with the original ones."""
    g = torch.Generator().manual_seed(SEED + 1)  # separate stream: fixtures unaffected
    for i in range(len(cfg["depths"]) - 1):
        dim = cfg["embed_dim"] * 2 ** i
        src = f"module.backbone.body.layers.{i}.downsample."
        dst = f"backbone.stages.{i}.downsample."
        x = torch.randn(2, 6, 10, dim, generator=g)  # B, H, W, C
        with torch.no_grad():
            glip = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2],
                              x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1).reshape(2, -1, 4 * dim)
            glip = torch.nn.functional.layer_norm(
                glip, (4 * dim,), model[src + "norm.weight"], model[src + "norm.bias"])
            glip = glip @ model[src + "reduction.weight"].t()
            mm = torch.nn.functional.unfold(x.permute(0, 3, 1, 2), kernel_size=2, stride=2)
            mm = torch.nn.functional.layer_norm(
                mm.transpose(1, 2), (4 * dim,), mm_sd[dst + "norm.weight"],
                mm_sd[dst + "norm.bias"])
            mm = mm @ mm_sd[dst + "reduction.weight"].t()
        err = (glip - mm).abs().max().item()
        assert err < 1e-5, f"stage {i}: remapped patch merging differs by {err}"


# ----------------------------------------------------------------------------- main


def main(argv):
    if len(argv) > 2:
        sys.exit("usage: /usr/bin/python3 scripts/make_fixtures.py [OUTDIR]")
    outdir = argv[1] if len(argv) == 2 else "testdata"
    os.makedirs(os.path.join(outdir, "expected"), exist_ok=True)
    torch.set_num_threads(1)  # reductions (mean/std) independent of the machine
    r = Rand(SEED)

    ckpt = official_checkpoint(r)
    model = ckpt["model"]
    views = views_object(r)
    mmp = {"state_dict": remap(model),
           "meta": {"epoch": 12, "mmpretrain_version": "1.0.0", "note": "fixture"}}
    check_remap_merging(model, mmp["state_dict"])

    # (file name, object, format, loadable)
    fixtures = [
        ("official_small.pth", ckpt, "zip", True),
        ("official_small_legacy.pth", ckpt, "legacy", True),
        ("official_small_f16.pth", {"model": cast_model(model, torch.float16)}, "zip", True),
        ("official_small_bf16.pth", {"model": cast_model(model, torch.bfloat16)}, "zip",
         True),
        ("views.pth", views, "zip", True),
        ("mmpretrain_small.pth", mmp, "zip", True),
        ("hostile.pth", hostile_object(), "zip", False),
        ("hostile_eval.pth", hostile_eval_object(), "zip", False),
    ]
    for name, obj, fmt, loadable in fixtures:
        path = os.path.join(outdir, name)
        if fmt == "legacy":
            save_legacy_canonical(obj, path, SEED)
        else:
            save_zip(obj, path)
        if loadable:
            loaded = torch.load(path, map_location="cpu")
            same_values(obj, loaded, name)
            if name == "views.pth":
                check_view_sharing(loaded)
            exp = expectation(path, loaded, fmt, True)
        else:
            exp = expectation(path, obj, fmt, False)  # never torch.load a hostile file
        stem = os.path.splitext(name)[0]
        write_json(os.path.join(outdir, "expected", stem + ".json"), exp)
        print(f"{path}: {os.path.getsize(path)} bytes, {len(exp['tensors'])} tensors, "
              f"{len(exp['leaves'])} leaves")

    import unsupported_fixtures  # complex, quantized and sparse tensors
    unsupported_fixtures.make(outdir)


if __name__ == "__main__":
    main(sys.argv)
