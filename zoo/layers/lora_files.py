"""LoRA adapters on disk: one .safetensors file, the adapters and the config that made them.

    "<module path>.lora_a" [in, r], "<module path>.lora_b" [r, out]       e.g. "layers_0/attention/query.lora_a"
    metadata (strings): format "zoo-lora", rank, alpha, targets (JSON)

A file holds only the adapters (megabytes, not the base model's gigabytes); load it onto the base model it was
trained on and `check_adapters` lists every kernel that does not fit. The layout is this zoo's own: PEFT's
`adapter_model.safetensors` names torch modules (`...q_proj.lora_A.weight`, [r, in]) and is not read here.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import jax.numpy as jnp
import numpy as np

from zoo.errors import SettingError
from zoo.layers.lora import Adapters, LoRAConfig, check_adapters
from zoo.weights.torch_file import WeightsFileError

FORMAT = "zoo-lora"
_SUFFIXES = {"lora_a": "a", "lora_b": "b"}


def save_adapters(path: str | Path, adapters: Adapters, config: LoRAConfig) -> Path:
    """Write adapters and config to `path` (.safetensors); a failed write leaves no partial file behind."""
    from safetensors.numpy import save_file

    path = Path(path).expanduser()
    if path.suffix != ".safetensors":
        raise SettingError(f"save_adapters writes safetensors; name the file *.safetensors, not {path.name!r}")
    if not adapters:
        raise SettingError("save_adapters: no adapters to save (init_adapters makes them)")
    wrong = [p for p, ad in adapters.items() if ad["a"].shape[-1] != config.rank or ad["b"].shape[0] != config.rank]
    if wrong:
        raise SettingError(f"save_adapters: adapters {wrong[:4]} are not of the config's rank {config.rank}; "
                           "save them with the config they were made with")
    tensors = {f"{p}.{suffix}": np.asarray(ad[key]) for p, ad in adapters.items() for suffix, key in _SUFFIXES.items()}
    metadata = {"format": FORMAT, "rank": json.dumps(config.rank), "alpha": json.dumps(float(config.alpha)),
                "targets": json.dumps(list(config.targets))}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        save_file(tensors, str(partial), metadata=metadata)
        os.replace(partial, path)  # atomic: readers see the old file or the whole new one
    finally:
        partial.unlink(missing_ok=True)
    return path


def load_adapters(path: str | Path, params: Mapping[str, Any] | None = None) -> tuple[Adapters, LoRAConfig]:
    """(adapters, config) from a save_adapters file; with `params`, also check they fit that base model."""
    from safetensors import safe_open

    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsFileError(f"LoRA adapters file {path} does not exist")
    try:
        with safe_open(str(path), framework="np") as file:
            metadata = file.metadata() or {}
            tensors = {key: file.get_tensor(key) for key in file.keys()}
    except Exception as err:  # noqa: BLE001 - SafetensorError and friends
        raise WeightsFileError(f"{path}: not a readable safetensors file ({err})") from None
    config = _config(path, metadata)
    adapters: dict[str, dict[str, Any]] = {}
    for key, array in tensors.items():
        module_path, _, suffix = key.rpartition(".")
        if suffix not in _SUFFIXES or not module_path:
            raise WeightsFileError(f"{path}: tensor {key!r} is not '<module path>.lora_a' or '.lora_b'")
        adapters.setdefault(module_path, {})[_SUFFIXES[suffix]] = jnp.asarray(array)
    if not adapters:
        raise WeightsFileError(f"{path}: LoRA metadata but no adapters; the file is incomplete, save it again")
    for module_path, adapter in adapters.items():
        if set(adapter) != {"a", "b"}:
            raise WeightsFileError(f"{path}: {module_path} has only lora_{''.join(adapter)}; the file is incomplete")
        if adapter["a"].ndim != 2 or adapter["a"].shape[1] != config.rank or adapter["b"].shape[0] != config.rank:
            raise WeightsFileError(f"{path}: {module_path} has A {list(adapter['a'].shape)}, B "
                                   f"{list(adapter['b'].shape)}, not of the file's rank {config.rank}")
    if params is not None:
        check_adapters(params, adapters)
    return adapters, config


def _config(path: Path, metadata: Mapping[str, str]) -> LoRAConfig:
    if metadata.get("format") != FORMAT:
        raise WeightsFileError(f"{path}: no LoRA metadata (format={FORMAT!r}, rank, alpha, targets), so not a file "
                               "from zoo.layers.lora_files.save_adapters; a full model's weights load with "
                               "zoo.weights instead")
    try:
        return LoRAConfig(rank=json.loads(metadata["rank"]), alpha=json.loads(metadata["alpha"]),
                          targets=tuple(json.loads(metadata["targets"])))
    except (KeyError, ValueError, TypeError) as err:
        raise WeightsFileError(f"{path}: damaged LoRA metadata {dict(metadata)} ({err}); save the adapters again") \
            from None
