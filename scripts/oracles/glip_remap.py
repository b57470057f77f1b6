"""Official GLIP Swin checkpoint keys -> mmpretrain keys.

Re-implements the remap that mmpretrain's
tools/model_converters/glip_to_mmpretrain.py (convert_glip) applies, as described in
docs/glip.md section 3:

1. keep a key only if it contains "backbone" and contains neither
   "language_backbone" nor "fpn";
2. delete "body." and "module.", then "backbone.layers" -> "backbone.stages";
3. first matching rule, in this order:
   - "mlp" in key:         mlp.fc1 -> ffn.layers.0.0, mlp.fc2 -> ffn.layers.1
   - "attn" in key:        attn -> attn.w_msa
   - "patch_embed" in key: proj -> projection
   - "downsample" in key:  names kept, reduction.weight and norm.weight/bias reordered
     from GLIP's concat order (x0,x1,x2,x3) to nn.Unfold's channel-major order;
4. every other key keeps its name. Dtypes and values are untouched.

Usage from another script (Debian /usr/bin/python3 with python3-torch):

    sys.path.insert(0, "scripts/oracles"); from glip_remap import remap
    new_state_dict = remap(checkpoint["model"])
"""

from collections import OrderedDict

import torch

_UNFOLD_ORDER = [0, 2, 1, 3]


def reorder_reduction(weight):
    """reduction.weight (out, in): view as (out, 4, in/4), take the 4-axis in order
    [0, 2, 1, 3], swap the last two axes, flatten back to (out, in)."""
    out_ch, in_ch = weight.shape
    if in_ch % 4:
        raise ValueError(f"reduction.weight: in={in_ch} is not a multiple of 4")
    with torch.no_grad():
        x = weight.reshape(out_ch, 4, in_ch // 4)
        x = x[:, _UNFOLD_ORDER, :].transpose(1, 2).reshape(out_ch, in_ch)
    return x


def reorder_norm(vec):
    """downsample norm.weight / norm.bias (in): view as (4, in/4), take rows
    [0, 2, 1, 3], transpose, flatten back to (in)."""
    (in_ch,) = vec.shape
    if in_ch % 4:
        raise ValueError(f"downsample norm: in={in_ch} is not a multiple of 4")
    with torch.no_grad():
        x = vec.reshape(4, in_ch // 4)
        x = x[_UNFOLD_ORDER, :].transpose(0, 1).reshape(in_ch)
    return x


def keep_key(key):
    return "backbone" in key and "language_backbone" not in key and "fpn" not in key


def rename(key):
    """The new name of a kept key (rules 2 and 3; names only)."""
    k = key.replace("body.", "").replace("module.", "")
    if k.startswith("backbone.layers"):
        k = k.replace("backbone.layers", "backbone.stages")
    if "mlp" in k:
        k = k.replace("mlp.fc1", "ffn.layers.0.0").replace("mlp.fc2", "ffn.layers.1")
    elif "attn" in k:
        k = k.replace("attn", "attn.w_msa")
    elif "patch_embed" in k:
        k = k.replace("proj", "projection")
    return k


def remap(state_dict):
    """Official GLIP state dict ("model" entry) -> mmpretrain state dict (OrderedDict).

    Non-reordered values are passed through as the same objects (as the mmpretrain
    converter does); the input is not modified.
    """
    out = OrderedDict()
    for key, value in state_dict.items():
        if not keep_key(key):
            continue
        new_key = rename(key)
        new_value = value
        # Rule 3 is "first match wins": the reorder applies only when neither mlp,
        # attn nor patch_embed matched (they never co-occur with downsample in Swin).
        if "mlp" not in new_key and "attn" not in new_key and "patch_embed" not in key \
                and "downsample" in new_key:
            if "reduction." in key:
                new_value = reorder_reduction(value)
            elif "norm." in key:
                new_value = reorder_norm(value)
        if new_key in out:
            raise ValueError(f"remap: two keys map to {new_key!r}")
        out[new_key] = new_value
    return out
