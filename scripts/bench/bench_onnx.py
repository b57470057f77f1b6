"""Exports torchvision's Swin with torch.onnx.export, for scripts/bench/bench_onnx.sh.

    /usr/bin/python3 scripts/bench/bench_onnx.py --weights W.pth --size S --out M.onnx [--opset 17]

W.pth holds mmpretrain-named weights (scripts/oracles/forward_torch.py make); they
are loaded into torchvision's SwinTransformer as forward_torch.py does, and
the graph of its forward pass with the per-stage norms (outputs stage1,
stage2, stage3, (N, C, H, W), the batch dynamic) is exported by Debian's
torch.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracles"))  # forward_torch, swin_ref


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--opset", type=int, default=17)
    a = ap.parse_args()
    import torch
    from torchvision.models import swin_transformer as tvs
    import forward_torch
    import swin_ref as ref

    sd = forward_torch.load(a.weights)
    arch = ref.arch_of(sd)
    tv = tvs.SwinTransformer(patch_size=[arch["patch"]] * 2, embed_dim=arch["embed"], depths=arch["depths"],
                             num_heads=arch["heads"], window_size=[arch["window"]] * 2, stochastic_depth_prob=0.0)
    # mmpretrain -> official (inverse reorder of the merging tensors) -> torchvision
    tv.load_state_dict(ref.official_to_torchvision(ref.mmpretrain_to_official(sd), tv.state_dict()))

    class Backbone(torch.nn.Module):
        """torchvision's features with the per-stage norms, as forward_torch.build."""

        def __init__(self):
            super().__init__()
            self.features = tv.features
            self.norms = torch.nn.ModuleList()
            for k in (1, 2, 3):
                n = torch.nn.LayerNorm(sd[f"backbone.norm{k}.weight"].shape[0], eps=1e-5)
                n.weight.data.copy_(sd[f"backbone.norm{k}.weight"])
                n.bias.data.copy_(sd[f"backbone.norm{k}.bias"])
                self.norms.append(n)

        def forward(self, x):
            res = []
            for li, layer in enumerate(self.features):
                x = layer(x)
                if li % 2 == 1 and li // 2 >= 1:
                    res.append(self.norms[li // 2 - 1](x).permute(0, 3, 1, 2))
            return tuple(res)

    x = torch.randn(1, 3, a.size, a.size)
    with torch.no_grad():
        torch.onnx.export(Backbone().eval().requires_grad_(False), (x,), a.out, opset_version=a.opset,
                          input_names=["pixel_values"], output_names=["stage1", "stage2", "stage3"],
                          dynamic_axes={"pixel_values": {0: "N"}, "stage1": {0: "N"}, "stage2": {0: "N"}, "stage3": {0: "N"}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
