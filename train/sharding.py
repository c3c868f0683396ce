"""Where each array of the train state lives on a ('data', 'model') device mesh: a parameter's path and shape
-> its PartitionSpec. The compiled step only annotates shardings; XLA inserts every collective.

* Tensor parallel over 'model' (Megatron-LM, Shoeybi et al. 2019), for zoo.layers' attention and feed-forward
  Dense kernels [in, out]: the projections that open a branch (attention query/key/value/qkv, mlp up/gate) split
  their outputs (and biases), so each device holds some heads or hidden units; the ones that close it
  (attention out, mlp down) split their inputs, so the branch needs one reduction at its end. Embedding tables
  [V, D] split the vocabulary, or the width when the vocabulary does not divide (GPT-2's 50257).
* FSDP over 'data' (ZeRO-3; `fsdp=True`): every leaf of at least FSDP_MIN_SIZE elements also splits its
  largest dimension that divides the 'data' axis and 'model' left whole. The optimizer's moments have their
  parameter's path (under opt_state) and shape, so they land on the same devices.

Everything else (norms, other biases, step, rng, anything indivisible) is replicated. A dimension is split only
when the axis size divides it, so every rule is safe for any model; sizes 1 change nothing. The rules place
arrays, never change results: where a split does not fall on head boundaries (GPT-2's fused qkv columns are
[q | k | v], so 'model' = 2 cuts through k), XLA moves data to compute the same values, only more slowly.
"""
from __future__ import annotations

from typing import Any, Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from zoo.errors import SettingError

DATA, MODEL = "data", "model"
# Below this many elements a leaf stays whole: gathering it each step would cost more than the memory it saves.
FSDP_MIN_SIZE = 1024

# (parent module, layer) -> which dimension of the kernel [in, out] 'model' splits.
_OPENS_BRANCH = {"query", "key", "value", "qkv"}, {"up", "gate"}  # attention, mlp: split the output dim
_CLOSES_BRANCH = {"out"}, {"down"}  # attention, mlp: split the input dim


def parse_mesh(text: str, num_devices: int) -> tuple[int, int]:
    """'4x2' -> (data, model) = (4, 2); '' -> (num_devices, 1). The product must be the device count."""
    if not text:
        return num_devices, 1
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise SettingError(f"--mesh takes DATAxMODEL, two positive whole numbers such as 4x2, got {text!r}")
    data, model = map(int, parts)
    if data * model != num_devices:
        raise SettingError(f"--mesh {text} needs {data * model} devices but the run has {num_devices}; choose "
                           f"DATAxMODEL with DATA x MODEL = {num_devices}, e.g. --mesh {num_devices}x1")
    return data, model


def _names(path) -> list[str]:
    """The string keys of a pytree path (module and parameter names; optax tuple indices dropped)."""
    names = []
    for entry in path:
        name = getattr(entry, "key", getattr(entry, "name", None))
        if isinstance(name, str):
            names.append(name)
    return names


def _tensor_parallel_dim(names: list[str], shape: tuple[int, ...]) -> int | None:
    """The dimension 'model' splits under Megatron's rules, or None."""
    if len(names) < 1 or not shape:
        return None
    leaf = names[-1]
    if leaf == "embedding" and len(shape) == 2:
        return 0  # the vocabulary (the caller falls back to the width when it does not divide)
    if len(names) < 3 or leaf not in ("kernel", "bias"):
        return None
    parent, layer = names[-3], names[-2]
    kind = 0 if "attention" in parent else 1 if parent == "mlp" else None
    if kind is None:
        return None
    if layer in _OPENS_BRANCH[kind]:
        return len(shape) - 1  # kernel [in, out] and bias [out]: the outputs
    if layer in _CLOSES_BRANCH[kind] and leaf == "kernel":
        return 0  # the inputs; the bias is added after the reduction, whole
    return None


def partition_spec(path, shape: tuple[int, ...], axis_sizes: Mapping[str, int], fsdp: bool = False) -> P:
    """The PartitionSpec of one state leaf, from its pytree path and shape, on a mesh with `axis_sizes`."""
    spec: list[Any] = [None] * len(shape)
    names = _names(path)
    model = axis_sizes.get(MODEL, 1)
    if model > 1:
        dim = _tensor_parallel_dim(names, shape)
        if dim is not None and shape[dim] % model and names[-1] == "embedding":
            dim = 1  # an odd vocabulary: split the width instead
        if dim is not None and shape[dim] % model == 0:
            spec[dim] = MODEL
    data = axis_sizes.get(DATA, 1)
    if fsdp and data > 1 and int(np.prod(shape, dtype=np.int64)) >= FSDP_MIN_SIZE:
        free = [d for d in range(len(shape)) if spec[d] is None and shape[d] % data == 0]
        if free:
            spec[max(free, key=lambda d: shape[d])] = DATA  # the largest; the first of equals
    while spec and spec[-1] is None:
        spec.pop()
    return P(*spec)


def state_shardings(state: Any, mesh: Mesh, fsdp: bool = False) -> Any:
    """A NamedSharding for every leaf of `state` (arrays or ShapeDtypeStructs), by `partition_spec`."""
    sizes = dict(mesh.shape)
    return jax.tree_util.tree_map_with_path(
        lambda path, x: NamedSharding(mesh, partition_spec(path, tuple(getattr(x, "shape", np.shape(x))), sizes,
                                                             fsdp)), state)
