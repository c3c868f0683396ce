"""PyTorch state dict -> Flax variables, by one naming rule (see zoo.vision.common).

A torch key `layer1.0.downsample.0.weight` names module path
`layer1 / 0 / downsample / 0` and leaf `weight`; runs of list indices join
their owner with underscores, giving the Flax path `layer1_0 / downsample_0`.
Leaves map by role: conv weights OIHW -> kernel HWIO, linear weights
[out, in] -> kernel [in, out], 1-D weights -> BatchNorm/LayerNorm scale,
running_mean / running_var -> the `batch_stats` collection.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import numpy as np
from flax import traverse_util

from zoo.errors import ZooError

Path = tuple[str, ...]  # (collection, module, ..., leaf)


class WeightsMismatchError(ZooError, ValueError):
    """A weights file does not fit the architecture it is loaded into."""


def flax_path(torch_key: str) -> Path | None:
    """`features.1.conv.0.0.weight` -> ('params', 'features_1', 'conv_0_0', <leaf>); None = not a variable."""
    *modules, leaf = torch_key.split(".")
    names: list[str] = []
    for part in modules:
        if part.isdigit() and names:
            names[-1] += f"_{part}"
        else:
            names.append(part)
    if leaf == "num_batches_tracked":
        return None
    if leaf in ("running_mean", "running_var"):
        return ("batch_stats", *names, "mean" if leaf == "running_mean" else "var")
    if leaf in ("weight", "bias"):
        return ("params", *names, leaf)  # 'weight' is resolved to kernel/scale against the template
    return ("params", *names, leaf)


def _to_flax_layout(array: np.ndarray, leaf: str) -> np.ndarray:
    if leaf == "kernel" and array.ndim == 4:  # conv OIHW -> HWIO (depthwise: [C,1,h,w] -> [h,w,1,C])
        return array.transpose(2, 3, 1, 0)
    if leaf == "kernel" and array.ndim == 2:  # linear [out, in] -> [in, out]
        return array.T
    return array


def _resolve(path: Path, array: np.ndarray, template: Mapping[Path, Any]) -> Path:
    if path[-1] != "weight":
        return path
    for leaf in ("kernel", "scale", "embedding"):
        candidate = (*path[:-1], leaf)
        if candidate in template:
            return candidate
    return (*path[:-1], "kernel" if array.ndim > 1 else "scale")


def torch_to_flax(state_dict: Mapping[str, np.ndarray], template, *,
                  rename: Callable[[str], str | None] | None = None,
                  keep: Iterable[str] = (), source: str = "weights file") -> dict:
    """Variables shaped like `template` ({'params': ..., 'batch_stats': ...}) filled from `state_dict`.

    `rename` maps a file's own key to the torchvision-style key the module
    mirrors (None drops it). Top-level modules named in `keep` (e.g. a
    replaced classifier head) keep the template's values and may differ in
    the file. Anything else that does not match raises WeightsMismatchError
    listing every missing, unexpected and mis-shaped key.
    """
    keep = set(keep)
    flat_template = traverse_util.flatten_dict(dict(template))
    filled: dict[Path, np.ndarray] = {}
    unexpected, misshaped = [], []
    misshaped_paths: set[Path] = set()  # listed under shape mismatches, so not again as missing
    for key, array in state_dict.items():
        torch_key = rename(key) if rename else key
        if torch_key is None:
            continue
        path = flax_path(torch_key)
        if path is None:
            continue
        array = np.asarray(array)
        path = _resolve(path, array, flat_template)
        if len(path) > 1 and path[1] in keep:
            continue
        if path not in flat_template:
            unexpected.append(f"{key} {tuple(array.shape)} (would be {'/'.join(path)})")
            continue
        value = _to_flax_layout(array, path[-1])
        expected = flat_template[path]
        if tuple(value.shape) != tuple(expected.shape):
            misshaped.append(f"{key}: file {tuple(array.shape)} -> {tuple(value.shape)}, "
                             f"model {'/'.join(path)} {tuple(expected.shape)}")
            misshaped_paths.add(path)
            continue
        filled[path] = value.astype(expected.dtype)
    missing = [f"{'/'.join(p)} {tuple(v.shape)}" for p, v in flat_template.items()
               if p not in filled and p not in misshaped_paths and not (len(p) > 1 and p[1] in keep)]
    if unexpected or misshaped or missing:
        parts = [f"{source} does not match the architecture:"]
        for title, items in (("shape mismatches", misshaped), ("missing from the file", missing),
                             ("in the file but not in the model", unexpected)):
            if items:
                shown = items[:20] + ([f"... and {len(items) - 20} more"] if len(items) > 20 else [])
                parts.append(f"  {title} ({len(items)}):\n    " + "\n    ".join(shown))
        parts.append("Check that the model name and its settings (num_classes, width, variant) match the file; "
                     "for a new number of classes load with the head kept (transfer learning).")
        raise WeightsMismatchError("\n".join(parts))
    merged = {p: filled.get(p, v) for p, v in flat_template.items()}
    return traverse_util.unflatten_dict(merged)
