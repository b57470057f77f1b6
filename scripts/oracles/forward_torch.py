#!/usr/bin/python3
"""The same forward pass as `glipctl forward` (mmpretrain semantics,
out_indices 1,2,3 with their norms) on PyTorch, as a whole process or timed
in process: the PyTorch side of scripts/bench/bench_forward.sh (and the other
benchmarks), and the reference cmd/glipctl's TestForwardJPEGMatchesTorch
runs (`run --impl ref`).

    forward_torch.py make --out DIR [--arch T|L] [--size S] [--batch N]
        Swin-T weights (real dimensions, random, seed 1) as DIR/swin_t_mm.pth
        (mmpretrain layout), DIR/swin_t_mm.safetensors, and an input
        DIR/x_224.npy (float32 (1,3,224,224)). --arch L: Swin-L dimensions
        (embed 192, depths 2,2,18,2, heads 6,12,24,48, window 12) as
        DIR/swin_l_mm.*; --size S: input DIR/x_S.npy; --batch N: also
        DIR/xb{N}_S.npy (N,3,S,S) and its images DIR/xb{N}_S_i.npy.
    forward_torch.py run --weights W.pth --input x.npy --out feats.safetensors
                         [--threads N] [--impl torchvision|ref]
        import torch, load the checkpoint, one forward pass, save the
        features: what the whole-process timing measures.
    forward_torch.py bench --weights W.pth --input x.npy [--threads N]
                         [--impl torchvision|ref] [--repeat K] [--chunk B]
        in process: load once, warm up, time K forward passes; prints
        "best_ms median_ms". --chunk B runs the input batch B images at
        a time (a batch of 32 as 4 passes of 8, say).
    forward_torch.py images --weights W --out feats.safetensors [--threads N]
                         [--impl torchvision|ref] [--chunk B] IMAGE...
        what `glipctl forward -m W IMAGE... -o feats.safetensors` does, in
        Python: import torch, load the weights, decode each image with PIL
        (Image.open(p).convert("RGB")), resize it to 224x224 BILINEAR,
        normalise it in BGR order with GLIP's mean and std (float32), run
        the forward pass on the stacked batch (B images at a time with
        --chunk B) and save the features as "{base name}/stage{K}", the
        names glipctl gives several inputs.
    forward_torch.py export --weights W.pth --out M.onnx --size S [--batch N]
        torchvision's SwinTransformer with the weights and the per-stage
        norms (what --impl torchvision runs), exported by torch.onnx.export
        (opset 17, constants folded) for an (N, 3, S, S) input; outputs
        stage1, stage2, stage3 as (N, C, H, W). For scripts/bench/bench_ort.sh.

--impl torchvision (default) runs torchvision's SwinTransformer (its shift
rule equals mmpretrain's on square maps, docs/glip.md section 7) loaded with the
same weights, plus the per-stage norms; --impl ref runs scripts/oracles/swin_ref.py
in float32. Needs Debian's python3-torch (and libopenblas0-pthread for a
fair matmul).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def build(sd, impl):
    """A callable x -> {K: (1, C, H, W)} for mmpretrain-named float32 weights."""
    import torch
    import torch.nn.functional as F
    import swin_ref as ref
    outs = (1, 2, 3)
    if impl == "ref":
        return lambda x: ref.forward(sd, x, "mmpretrain", outs)[0]
    from torchvision.models import swin_transformer as tvs
    a = ref.arch_of(sd)
    m = tvs.SwinTransformer(patch_size=[a["patch"]] * 2, embed_dim=a["embed"], depths=a["depths"],
                            num_heads=a["heads"], window_size=[a["window"]] * 2, stochastic_depth_prob=0.0).eval()
    # mmpretrain -> official (inverse reorder of the merging tensors) -> torchvision
    m.load_state_dict(ref.official_to_torchvision(ref.mmpretrain_to_official(sd), m.state_dict()))
    norms = {k: (sd[f"backbone.norm{k}.weight"], sd[f"backbone.norm{k}.bias"]) for k in outs}

    def run(x):
        res, t = {}, x
        for li, layer in enumerate(m.features):
            t = layer(t)
            if li % 2 == 1 and li // 2 in norms:
                w, b = norms[li // 2]
                res[li // 2] = F.layer_norm(t, (w.shape[0],), w, b, 1e-5).permute(0, 3, 1, 2).contiguous()
        return res
    run.module = m
    return run


def export(sd, path, size, batch):
    """torch.onnx.export of build(sd, "torchvision") for (batch, 3, size, size)."""
    import torch
    f = build(sd, "torchvision")

    class Backbone(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.swin = f.module  # its weights become the graph's initializers

        def forward(self, x):
            r = f(x)
            return r[1], r[2], r[3]
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.onnx.export(Backbone().eval(), (x,), path, opset_version=17, do_constant_folding=True,
                          input_names=["input"], output_names=["stage1", "stage2", "stage3"])


def load(path):
    import swin_ref as ref
    return {k: v for k, v in ref.load_weights(path).items()}


# GLIP's pixel mean and std, in BGR order (0..255).
MEAN_BGR = (103.53, 116.28, 123.675)
STD_BGR = (57.375, 57.12, 58.395)


def images(a, sd):
    """The images subcommand: PIL decode, resize, normalise, forward, save."""
    import numpy as np
    import torch
    from PIL import Image
    import swin_ref as ref
    names = [os.path.basename(p) for p in a.images]
    if len(set(names)) != len(names):
        raise SystemExit("forward_torch.py images: two images share a base name")
    mean = np.array(MEAN_BGR, np.float32)
    std = np.array(STD_BGR, np.float32)
    xs = []
    for p in a.images:
        rgb = np.asarray(Image.open(p).convert("RGB").resize((224, 224), Image.BILINEAR))
        x = (rgb[:, :, ::-1].astype(np.float32) - mean) / std
        xs.append(x.transpose(2, 0, 1))
    x = torch.from_numpy(np.ascontiguousarray(np.stack(xs)))
    f = build(sd, a.impl)
    chunk = a.chunk or x.shape[0]
    feats = {}
    with torch.no_grad():
        for i in range(0, x.shape[0], chunk):
            outs = f(x[i:i + chunk])
            for j in range(outs[1].shape[0]):
                for k, v in sorted(outs.items()):
                    feats[f"{names[i + j]}/stage{k}"] = v[j:j + 1]
    ref.save_safetensors(a.out, feats)
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make")
    mk.add_argument("--out", required=True)
    mk.add_argument("--arch", default="T", choices=["T", "L"])
    mk.add_argument("--size", type=int, default=224)
    mk.add_argument("--batch", type=int, default=0)
    for name in ("run", "bench"):
        p = sub.add_parser(name)
        p.add_argument("--weights", required=True)
        p.add_argument("--input", required=True)
        p.add_argument("--threads", type=int, default=0)
        p.add_argument("--impl", default="torchvision", choices=["torchvision", "ref"])
        if name == "run":
            p.add_argument("--out", required=True)
        else:
            p.add_argument("--repeat", type=int, default=10)
            p.add_argument("--chunk", type=int, default=0)
    im = sub.add_parser("images")
    im.add_argument("--weights", required=True)
    im.add_argument("--out", required=True)
    im.add_argument("--threads", type=int, default=0)
    im.add_argument("--impl", default="torchvision", choices=["torchvision", "ref"])
    im.add_argument("--chunk", type=int, default=0)
    im.add_argument("images", nargs="+")
    ex = sub.add_parser("export")
    ex.add_argument("--weights", required=True)
    ex.add_argument("--out", required=True)
    ex.add_argument("--size", type=int, default=224)
    ex.add_argument("--batch", type=int, default=1)
    a = ap.parse_args(argv)
    import numpy as np
    import torch
    import swin_ref as ref
    if a.cmd == "make":
        os.makedirs(a.out, exist_ok=True)
        name = "swin_t_mm"
        if a.arch == "L":
            name = "swin_l_mm"
            sd = ref.official_to_mmpretrain(ref.random_official(192, [2, 2, 18, 2], [6, 12, 24, 48], 12, seed=1, junk=False))
        else:
            sd = ref.official_to_mmpretrain(ref.random_official(96, [2, 2, 6, 2], [3, 6, 12, 24], 7, seed=1, junk=False))
        if not os.path.exists(os.path.join(a.out, name + ".pth")):
            torch.save({"state_dict": sd, "meta": {}}, os.path.join(a.out, name + ".pth"))
            ref.save_safetensors(os.path.join(a.out, name + ".safetensors"), sd)
        s = a.size
        x = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(2))
        np.save(os.path.join(a.out, f"x_{s}.npy"), x.numpy())
        if a.batch:
            xb = torch.randn(a.batch, 3, s, s, generator=torch.Generator().manual_seed(3))
            np.save(os.path.join(a.out, f"xb{a.batch}_{s}.npy"), xb.numpy())
            for i in range(a.batch):
                np.save(os.path.join(a.out, f"xb{a.batch}_{s}_{i}.npy"), xb[i:i + 1].numpy())
        return 0
    if a.cmd == "export":
        export(load(a.weights), a.out, a.size, a.batch)
        return 0
    if a.threads:
        torch.set_num_threads(a.threads)
    sd = load(a.weights)
    if a.cmd == "images":
        return images(a, sd)
    x = torch.from_numpy(np.load(a.input))
    f = build(sd, a.impl)
    with torch.no_grad():
        if a.cmd == "run":
            outs = f(x)
            ref.save_safetensors(a.out, {f"stage{k}": v for k, v in sorted(outs.items())})
            return 0
        chunk = a.chunk or x.shape[0]

        def once():
            for i in range(0, x.shape[0], chunk):
                f(x[i:i + chunk])
        once()  # warm up
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            once()
            times.append(time.perf_counter() - t0)
    times.sort()
    print(f"{times[0] * 1e3:.1f} {times[len(times) // 2] * 1e3:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
