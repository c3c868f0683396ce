"""torchvision's VisionTransformer state dicts <-> zoo.vision.vit variables.

zoo's ViT keeps torchvision's module names (`conv_proj`, `class_token`, `encoder.pos_embedding`,
`encoder.layers.encoder_layer_0.ln_1`, `heads.head`), so `zoo.weights.convert`'s generic rule ports them.
Only the sublayers it borrows from `zoo.layers` are named differently; `rename` maps those keys:

    ...self_attention.in_proj_weight [3D, D]  ->  ...self_attention.qkv.weight   (q, k, v blocks, in that order)
    ...self_attention.in_proj_bias   [3D]     ->  ...self_attention.qkv.bias
    ...self_attention.out_proj.*              ->  ...self_attention.out.*
    ...mlp.0.* / ...mlp.3.*                   ->  ...mlp.up.* / ...mlp.down.*
    ...mlp.linear_1.* / ...mlp.linear_2.*     ->  the same (torchvision < 0.13 checkpoints)

`to_torchvision` goes the other way: a zoo ViT's params as a torchvision state dict (numpy arrays), which
`VisionTransformer.load_state_dict` takes and `zoo-predict --weights FILE.npz` reads back.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np
from flax import traverse_util

_RULES = [
    (re.compile(r"\.self_attention\.in_proj_(weight|bias)$"), r".self_attention.qkv.\1"),
    (re.compile(r"\.self_attention\.out_proj\."), ".self_attention.out."),
    (re.compile(r"\.mlp\.(0|linear_1)\."), ".mlp.up."),
    (re.compile(r"\.mlp\.(3|linear_2)\."), ".mlp.down."),
]

# zoo module name -> torchvision attribute, for the export.
_MODULES = {"qkv": "in_proj", "out": "out_proj", "up": "0", "down": "3"}


def rename(key: str) -> str:
    """A torchvision ViT key -> the key zoo's module names give (unchanged where they already agree)."""
    for pattern, replacement in _RULES:
        key = pattern.sub(replacement, key)
    return key


def to_torchvision(variables: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """zoo ViT variables ({'params': ...} or the params themselves) -> torchvision state dict of numpy arrays."""
    params = variables.get("params", variables)
    out: dict[str, np.ndarray] = {}
    for path, value in traverse_util.flatten_dict(dict(params)).items():
        *modules, leaf = path
        value = np.asarray(value)
        if leaf == "kernel":
            value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T  # HWIO -> OIHW, [in, out] -> [out, in]
        if modules and modules[-1] == "qkv":  # torch's MultiheadAttention holds its in_proj as bare parameters
            out[".".join(modules[:-1]) + f".in_proj_{'weight' if leaf == 'kernel' else 'bias'}"] = value
            continue
        leaf = {"kernel": "weight", "scale": "weight"}.get(leaf, leaf)
        names = [_MODULES.get(m, m) if i and modules[i - 1] in ("self_attention", "mlp") else m
                 for i, m in enumerate(modules)]
        out[".".join([*names, leaf])] = np.ascontiguousarray(value)
    return out
