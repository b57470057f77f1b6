#!/usr/bin/python3
"""Check `glipctl convert` against torch and mmpretrain's remap rules.

Run with Debian's python (python3-torch 1.13), not a pyenv/venv one:

    /usr/bin/python3 scripts/oracles/check_convert.py GLIPCTL [TESTDATA_DIR]

GLIPCTL is the glipctl binary. The fixtures are TESTDATA_DIR/official_small.pth,
official_small_legacy.pth, official_small_f16.pth, official_small_bf16.pth and
mmpretrain_small.pth (made by scripts/fixtures/make_fixtures.py); when a fixture is missing the
script makes a stand-in from the small Swin of make_fixtures.py in a temp dir.

For every fixture, glipctl's outputs are compared with what torch computes:
  * .pth: torch.load of the output is an OrderedDict equal to
    glip_remap.remap(torch.load(fixture)["model"]) (scripts/oracles/glip_remap.py, the remap of
    mmpretrain's tools/model_converters/glip_to_mmpretrain.py): same keys in the same
    order, same dtypes and shapes, torch.equal values; and the file is byte-identical
    to torch.save of that OrderedDict (values as plain tensors, archive name "archive").
    An mmpretrain fixture passes through (its backbone keys).
  * --dtype f32/f16/bf16: values equal to torch's .float()/.half()/.bfloat16() of the
    remapped ones (integer buffers unchanged).
  * --layout official: mmpretrain -> official gives back the fixture's backbone tensors
    under their GLIP names, bit for bit, under "model".
  * .safetensors: read here with a few lines of Python (8-byte length, JSON header,
    data); tensors as the .pth's (f16/bf16 as torch rounds), metadata (format pt, the
    source file's sha256, layout, arch, preprocessing).
  * .gguf: tensor infos and metadata read by npm's @huggingface/gguf
    (scripts/oracles/gguf_check.mjs, if node and scripts/node_modules are there), the data read
    here at the offsets it reports: f32 exact, f16 as torch rounds, q8_0 within the
    block error (|x - q*d| <= d/2 + 127*|d - f16(d)| with d = absmax/127).
  * the reports: every kept tensor listed in order with its old and new name, shapes,
    dtypes, and stats equal (to 1e-9 relative) to torch's over the output values.
Prints one line per check and "N passed, M failed"; exits 1 if any failed.
"""

import collections
import hashlib
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

import torch

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from glip_remap import keep_key, remap  # noqa: E402

FIXTURES = ["official_small", "official_small_legacy", "official_small_f16",
            "official_small_bf16", "mmpretrain_small"]

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {what}")
    else:
        failed += 1
        print(f"FAIL  {what}")
    return ok


def run(glipctl, *args):
    p = subprocess.run([glipctl, "convert", *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"glipctl convert {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def state_dict_of(obj):
    if isinstance(obj, dict) and "model" in obj:
        return obj["model"]
    if isinstance(obj, dict) and "state_dict" in obj:
        return obj["state_dict"]
    return obj


def expected_for(fixture_path):
    """The mmpretrain state dict mmpretrain's converter saves for this fixture."""
    obj = torch.load(fixture_path, map_location="cpu")
    sd = state_dict_of(obj)
    if any(k.startswith("module.backbone.body.") or k.startswith("backbone.body.") for k in sd):
        return "official", sd, remap(sd)
    out = collections.OrderedDict((k, v) for k, v in sd.items() if k.startswith("backbone."))
    return "mmpretrain", sd, out


def plain(t):
    return t.detach().clone() if isinstance(t, torch.nn.Parameter) else t.detach()


def same_state(got, want, what):
    gk, wk = list(got.keys()), list(want.keys())
    if not check(gk == wk, f"{what}: {len(wk)} keys, same names in the same order"):
        for a, b in zip(gk, wk):
            if a != b:
                print(f"      first difference: {a!r} vs {b!r}")
                break
        return False
    bad = [k for k in wk if got[k].dtype != want[k].dtype or got[k].shape != want[k].shape
           or not torch.equal(got[k], want[k])]
    if bad:
        print(f"      differing: {bad[:5]}")
    return check(not bad, f"{what}: dtypes, shapes and values equal (torch.equal)")


def cast(sd, mode):
    out = collections.OrderedDict()
    for k, v in sd.items():
        v = plain(v)
        if v.is_floating_point():
            v = {"f32": v.float(), "f16": v.half(), "bf16": v.bfloat16(), "keep": v}[mode]
        out[k] = v
    return out


# ---------------------------------------------------------------- safetensors

ST_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
             "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
             "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n], object_pairs_hook=collections.OrderedDict)
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = collections.OrderedDict()
    # Tensors in data order (glipctl writes them in state-dict order).
    for k, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, end = e["data_offsets"]
        dt = ST_DTYPES[e["dtype"]]
        buf = bytearray(data[b:end])
        t = torch.frombuffer(buf, dtype=dt) if end > b else torch.empty(0, dtype=dt)
        out[k] = t.reshape(e["shape"])
    return meta, out


# ---------------------------------------------------------------- gguf

SHORT_RULES = [
    ("backbone.patch_embed.projection.*", "pe.proj.*"),
    ("backbone.patch_embed.norm.*", "pe.norm.*"),
    ("backbone.stages.#.blocks.#.norm1.*", "s#.b#.norm1.*"),
    ("backbone.stages.#.blocks.#.norm2.*", "s#.b#.norm2.*"),
    ("backbone.stages.#.blocks.#.attn.w_msa.qkv.*", "s#.b#.attn.qkv.*"),
    ("backbone.stages.#.blocks.#.attn.w_msa.proj.*", "s#.b#.attn.proj.*"),
    ("backbone.stages.#.blocks.#.attn.w_msa.relative_position_bias_table", "s#.b#.attn.rpb_table"),
    ("backbone.stages.#.blocks.#.attn.w_msa.relative_position_index", "s#.b#.attn.rp_index"),
    ("backbone.stages.#.blocks.#.ffn.layers.0.0.*", "s#.b#.ffn.fc1.*"),
    ("backbone.stages.#.blocks.#.ffn.layers.1.*", "s#.b#.ffn.fc2.*"),
    ("backbone.stages.#.downsample.reduction.*", "s#.down.reduction.*"),
    ("backbone.stages.#.downsample.norm.*", "s#.down.norm.*"),
    ("backbone.norm#.*", "norm#.*"),
]


def short_name(long):
    """The short-v1 name (internal/ckpt/gguf/doc.go's table) of an mmpretrain name."""
    for lp, sp in SHORT_RULES:
        rx = "^" + re.escape(lp).replace(r"\#", r"(\d+)").replace(r"\*", r"([^.]+)") + "$"
        m = re.match(rx, long)
        if m:
            caps = list(m.groups())
            return re.sub(r"[#*]", lambda _: caps.pop(0), sp)
    return long


def f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


def q8_bound(block):
    d = max(abs(float(v)) for v in block) / 127.0
    d = float(torch.tensor(d, dtype=torch.float32))
    return 0.5 * d + 127 * abs(d - f16(d)) + 1e-12


def read_gguf_node(path):
    node = shutil.which("node")
    mjs = os.path.join(HERE, "gguf_check.mjs")
    if not node or not os.path.isdir(os.path.join(HERE, "..", "node_modules", "@huggingface", "gguf")):
        return None
    p = subprocess.run([node, mjs, path], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"gguf_check.mjs {path}: {p.stderr.strip()}")
    return json.loads(p.stdout)


GGML = {0: (torch.float32, 4), 1: (torch.float16, 2), 30: (torch.bfloat16, 2),
        27: (torch.int64, 8), 26: (torch.int32, 4)}


def gguf_tensors(path, info):
    with open(path, "rb") as f:
        raw = f.read()
    base = int(info["tensor_data_offset"])
    out = collections.OrderedDict()
    for ti in info["tensor_infos"]:
        shape = [int(d) for d in reversed(ti["shape"])]
        n = math.prod(shape)
        off = base + int(ti["offset"])
        if ti["dtype"] == 8:  # Q8_0
            nb = n // 32
            blocks = raw[off:off + nb * 34]
            vals = []
            for b in range(nb):
                (d,) = struct.unpack("<e", blocks[b * 34:b * 34 + 2])
                qs = struct.unpack("<32b", blocks[b * 34 + 2:b * 34 + 34])
                vals.extend(d * q for q in qs)
            out[ti["name"]] = ("Q8_0", torch.tensor(vals, dtype=torch.float64).reshape(shape))
        else:
            dt, es = GGML[ti["dtype"]]
            buf = bytearray(raw[off:off + n * es])
            t = torch.frombuffer(buf, dtype=dt) if n else torch.empty(0, dtype=dt)
            out[ti["name"]] = (ti["dtype_name"], t.reshape(shape))
    return out


# ---------------------------------------------------------------- reports


def stats_of(t):
    d = t.double().flatten()
    fin = d[torch.isfinite(d)]
    s = {"zeros": int((d == 0).sum()), "nan": int(torch.isnan(d).sum()),
         "inf": int(torch.isinf(d).sum())}
    if fin.numel():
        s.update(min=fin.min().item(), max=fin.max().item(), mean=fin.mean().item(),
                 absmax=fin.abs().max().item())
    s["std"] = fin.std().item() if fin.numel() > 1 else None
    return s


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def check_report(path, fixture, want, what):
    with open(path) as f:
        rep = json.load(f)
    with open(fixture, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    check(rep["source"]["sha256"] == sha, f"{what}: report has the source's sha256")
    names = [t["to"] for t in rep["tensors"]]
    check(names == list(want.keys()), f"{what}: report lists every kept tensor in order")
    bad = []
    for t in rep["tensors"]:
        v = want[t["to"]]
        s, ws = t["stats"], stats_of(v)
        if list(v.shape) != t["shape"] or any(not close(s[k], ws.get(k)) for k in
                                               ("min", "max", "mean", "std", "absmax")) \
                or any(s[k] != ws[k] for k in ("zeros", "nan", "inf")):
            bad.append(t["to"])
    if bad:
        print(f"      stats differ: {bad[:5]}")
    check(not bad, f"{what}: report shapes and stats equal torch's")
    return rep


# ---------------------------------------------------------------- main


def stand_in_fixtures(tmp):
    """Minimal fixtures when testdata/ lacks them: the make_fixtures.py small Swin."""
    sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
    import make_fixtures as mf  # noqa: E402
    r = mf.Rand(mf.SEED)
    ck = mf.official_checkpoint(r)
    paths = {}
    torch.save(ck, os.path.join(tmp, "official_small.pth"))
    paths["official_small"] = os.path.join(tmp, "official_small.pth")
    legacy = os.path.join(tmp, "official_small_legacy.pth")
    torch.save(ck, legacy, _use_new_zipfile_serialization=False)
    paths["official_small_legacy"] = legacy
    for name, dt in (("official_small_f16", torch.float16), ("official_small_bf16", torch.bfloat16)):
        p = os.path.join(tmp, name + ".pth")
        torch.save({"model": mf.cast_model(ck["model"], dt)}, p)
        paths[name] = p
    p = os.path.join(tmp, "mmpretrain_small.pth")
    torch.save({"state_dict": remap(ck["model"]), "meta": {}}, p)
    paths["mmpretrain_small"] = p
    return paths


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        sys.exit(2)
    glipctl = os.path.abspath(sys.argv[1])
    testdata = sys.argv[2] if len(sys.argv) == 3 else os.path.join(HERE, "..", "..", "testdata")
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="check_convert.")
    try:
        paths = {n: os.path.join(testdata, n + ".pth") for n in FIXTURES}
        if not all(os.path.exists(p) for p in paths.values()):
            print("note: fixtures missing from", testdata, "- using stand-ins")
            paths = stand_in_fixtures(tmp)
        for name in FIXTURES:
            check_fixture(glipctl, name, paths[name], tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def check_fixture(glipctl, name, fixture, tmp):
    layout, src_sd, want = expected_for(fixture)
    d = os.path.join(tmp, name)
    os.makedirs(d)

    # .pth, keep
    out = os.path.join(d, "mm.pth")
    run(glipctl, fixture, "-o", out)
    got = torch.load(out, map_location="cpu")
    check(type(got) is collections.OrderedDict, f"{name}: .pth loads as an OrderedDict")
    same_state(got, want, f"{name}: .pth")
    ref = os.path.join(d, "archive.pth")
    torch.save(collections.OrderedDict((k, plain(v)) for k, v in want.items()), ref)
    with open(out, "rb") as a, open(ref, "rb") as b:
        check(a.read() == b.read(), f"{name}: .pth byte-identical to torch.save of the expected OrderedDict")
    check_report(out + ".report.json", fixture, want, f"{name}: .pth report")

    # determinism
    out2 = os.path.join(d, "mm2.pth")
    run(glipctl, fixture, "-o", out2)
    with open(out, "rb") as a, open(out2, "rb") as b:
        check(a.read() == b.read(), f"{name}: two runs give the same bytes")

    # --dtype
    for mode in ("f32", "f16", "bf16"):
        o = os.path.join(d, f"mm_{mode}.pth")
        run(glipctl, fixture, "-o", o, "--dtype", mode)
        same_state(torch.load(o, map_location="cpu"), cast(want, mode), f"{name}: .pth --dtype {mode}")

    # --layout official
    if layout == "official":
        o = os.path.join(d, "official.pth")
        run(glipctl, out, "-o", o, "--layout", "official")
        back = torch.load(o, map_location="cpu")
        src_backbone = collections.OrderedDict((k, plain(v)) for k, v in src_sd.items() if keep_key(k))
        check(list(back.keys()) == ["model"], f"{name}: --layout official .pth is {{'model': ...}}")
        same_state(back["model"], src_backbone, f"{name}: official -> mmpretrain -> official")
        o2 = os.path.join(d, "official_direct.pth")
        run(glipctl, fixture, "-o", o2, "--layout", "official")
        same_state(torch.load(o2, map_location="cpu")["model"], src_backbone,
                   f"{name}: official -> official (backbone only)")
    else:
        o = os.path.join(d, "official.pth")
        run(glipctl, fixture, "-o", o, "--layout", "official")
        o2 = os.path.join(d, "mm_again.pth")
        run(glipctl, o, "-o", o2)
        same_state(torch.load(o2, map_location="cpu"), want, f"{name}: mmpretrain -> official -> mmpretrain")

    # safetensors
    with open(fixture, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    for mode in ("keep", "f16", "bf16"):
        o = os.path.join(d, f"mm_{mode}.safetensors")
        run(glipctl, fixture, "-o", o, "--dtype", mode)
        meta, st = read_safetensors(o)
        same_state(st, cast(want, mode), f"{name}: .safetensors --dtype {mode}")
        arch = json.loads(meta.get("arch", "{}"))
        pp = json.loads(meta.get("preprocess", "{}"))
        check(meta.get("format") == "pt" and meta.get("source_sha256") == sha
              and meta.get("source_file") == os.path.basename(fixture)
              and meta.get("layout") == "mmpretrain" and arch.get("embed_dim") == 8
              and arch.get("depths") == [2, 2, 2, 2] and arch.get("heads") == [1, 2, 4, 8]
              and arch.get("window") == 7 and pp.get("bgr") is True
              and pp.get("mean") == [103.53, 116.28, 123.675]
              and pp.get("std") == [57.375, 57.12, 58.395] and "glipctl_version" in meta,
              f"{name}: .safetensors --dtype {mode} metadata")

    # gguf
    for mode in ("keep", "f16", "q8_0"):
        o = os.path.join(d, f"mm_{mode}.gguf")
        run(glipctl, fixture, "-o", o, "--dtype", mode)
        info = read_gguf_node(o)
        if info is None:
            print(f"note  {name}: .gguf not checked with @huggingface/gguf (node or scripts/node_modules missing)")
            continue
        md = {k: v["value"] for k, v in info["metadata"].items()}
        check(info["version"] == 3 and md.get("general.architecture") == "swin"
              and md.get("general.alignment") == 32 and md.get("swin.embed_dim") == 8
              and md.get("swin.depths") == [2, 2, 2, 2] and md.get("swin.num_heads") == [1, 2, 4, 8]
              and md.get("swin.window_size") == 7 and md.get("swin.image_bgr") is True
              and md.get("glipctl.source_sha256") == sha and md.get("glipctl.naming") == "short-v1",
              f"{name}: .gguf --dtype {mode} metadata (@huggingface/gguf)")
        gt = gguf_tensors(o, info)
        check(list(gt.keys()) == [short_name(k) for k in want.keys()],
              f"{name}: .gguf --dtype {mode}: short-v1 names in order")
        bad = []
        for (sname, (tname, t)), (k, v) in zip(gt.items(), want.items()):
            v = plain(v)
            if tname == "Q8_0":
                x = v.double().flatten()
                q = t.flatten()
                for b in range(x.numel() // 32):
                    blk = x[b * 32:(b + 1) * 32]
                    if (blk - q[b * 32:(b + 1) * 32]).abs().max().item() > q8_bound(blk.tolist()):
                        bad.append(k)
                        break
                if not (len(v.shape) == 2 and v.shape[1] % 32 == 0 and k.endswith(".weight")):
                    bad.append(k + " (should not be Q8_0)")
                continue
            if mode == "q8_0" and v.is_floating_point() and len(v.shape) == 2 \
                    and v.shape[1] % 32 == 0 and k.endswith(".weight"):
                bad.append(k + " (should be Q8_0)")
                continue
            if mode == "q8_0":
                exp = v.float() if v.is_floating_point() else v
            else:
                exp = cast({k: v}, mode)[k] if mode != "keep" else v
            if t.dtype != exp.dtype or list(t.shape) != list(exp.shape) or not torch.equal(t, exp):
                bad.append(k)
        if bad:
            print(f"      differing: {bad[:5]}")
        check(not bad, f"{name}: .gguf --dtype {mode} values (f32 exact, f16 as torch, q8_0 within the block error)")


if __name__ == "__main__":
    main()
