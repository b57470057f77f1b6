#!/usr/bin/python3
"""The fixture of tensors glipctl cannot represent: complex, quantized and sparse ones.

Called by scripts/make_fixtures.py (which check_fixtures.sh runs); on its own:

    /usr/bin/python3 scripts/unsupported_fixtures.py [OUTDIR]     # default: testdata/

Writes OUTDIR/unsupported.pth (torch.save, zip format), OUTDIR/unsupported_legacy.pth (the
legacy format, through make_fixtures.save_legacy_canonical, which needs every storage to
belong to a tensor it can see: without the sparse tensors and the per-channel quantized one) and their OUTDIR/expected/*.json:
the usual expectation (make_fixtures.py's format) for the tensors glipctl reads and leaves,
plus "unsupported": [{"name", "kind"}] in file order, kind being what torch.load reports:
"complex" (is_complex), "quantized" (is_quantized) or "sparse" (layout is not strided).
Deterministic: seeded generator, one thread.
"""

import os
import sys
import warnings
from collections import OrderedDict

import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

SEED = 20240602
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")


def unsupported_object():
    g = torch.Generator().manual_seed(SEED)
    rn = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return OrderedDict([
        ("w", rn(3)),
        ("c", torch.complex(rn(2), rn(2))),
        ("q", torch.quantize_per_tensor(rn(4), 0.1, 3, torch.qint8)),
        ("qc", torch.quantize_per_channel(rn(2, 3), torch.tensor([0.1, 0.2], dtype=torch.float64),
                                          torch.tensor([0, 1]), 0, torch.quint8)),
        ("s", rn(3, 3).relu().to_sparse()),
        ("csr", rn(3, 3).relu().to_sparse_csr()),
        ("nested", OrderedDict([("b", rn(2, 2)), ("cd", torch.zeros(2, dtype=torch.complex128))])),
        ("step", 7),
    ])


def kind(t):
    if t.is_complex():
        return "complex"
    if t.is_quantized:
        return "quantized"
    if t.layout != torch.strided:
        return "sparse"
    return None


def split(obj, path, tensors, leaves, unsupported):
    if isinstance(obj, torch.Tensor):
        name = "/".join(path)
        k = kind(obj)
        if k:
            unsupported.append({"name": name, "kind": k})
        else:
            tensors.append(mf.describe_tensor(name, obj))
    elif isinstance(obj, dict) and obj:
        for k, v in obj.items():
            split(v, path + [str(k)], tensors, leaves, unsupported)
    else:
        leaves.append(mf.describe_leaf("/".join(path), obj))


def make(outdir):
    os.makedirs(os.path.join(outdir, "expected"), exist_ok=True)
    obj = unsupported_object()
    legacy = OrderedDict((k, v) for k, v in obj.items() if k not in ("s", "csr", "qc"))
    for name, o, fmt in (("unsupported.pth", obj, "zip"), ("unsupported_legacy.pth", legacy, "legacy")):
        path = os.path.join(outdir, name)
        if fmt == "zip":
            mf.save_zip(o, path)
        else:
            mf.save_legacy_canonical(o, path, SEED)
        loaded = torch.load(path, map_location="cpu")
        tensors, leaves, unsupported = [], [], []
        split(loaded, [], tensors, leaves, unsupported)
        exp = OrderedDict([
            ("file", name), ("format", fmt), ("torch_loaded", True),
            ("stats_over", "finite"), ("pickle_globals", mf.pickle_globals(path)),
            ("tensors", tensors), ("leaves", leaves), ("unsupported", unsupported),
        ])
        stem = os.path.splitext(name)[0]
        mf.write_json(os.path.join(outdir, "expected", stem + ".json"), exp)
        print(f"{path}: {os.path.getsize(path)} bytes, {len(tensors)} tensors, "
              f"{len(unsupported)} unsupported")


if __name__ == "__main__":
    if len(sys.argv) > 2:
        sys.exit("usage: /usr/bin/python3 scripts/unsupported_fixtures.py [OUTDIR]")
    torch.set_num_threads(1)
    make(sys.argv[1] if len(sys.argv) == 2 else "testdata")
