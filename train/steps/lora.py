"""LoRA in a training state: the adapters live beside the frozen weights, under one top-level params key.

    params = {'embed': ..., 'layers_0': ..., ..., LORA_KEY: {'layers_0': {'attention': {'query': {'a', 'b'}}}}}

so the frozen-backbone machinery does the rest: the step differentiates `{LORA_KEY: adapters}` only (the base
is closed over: no gradient, no optimizer state), and `model_view` turns the stored tree into what the model
applies, W + (alpha / r) A B at every adapted kernel (zoo.layers.lora.merge). Adapters are stored nested (by
module path) rather than under '/'-joined keys, so checkpoint files name them like any other parameter.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
from flax import traverse_util

from zoo.layers import lora as lora_lib

LORA_KEY = "lora"


def with_adapters(params: dict[str, Any], config: lora_lib.LoRAConfig, key: jax.Array) -> dict[str, Any]:
    """`params` plus fresh adapters (B = 0: the model's outputs are unchanged at step 0)."""
    if LORA_KEY in params:
        raise lora_lib.LoRAMismatchError(f"these params already have a top-level {LORA_KEY!r} entry")
    adapters = lora_lib.init_adapters(params, config, key)
    return {**params, LORA_KEY: nested(adapters)}


def split_adapters(params: dict[str, Any]) -> tuple[dict[str, Any], lora_lib.Adapters]:
    """(the base params, the adapters as zoo.layers.lora keys them: flat by '/'-joined module path)."""
    base = {k: v for k, v in params.items() if k != LORA_KEY}
    return base, flat(params.get(LORA_KEY, {}))


def model_view(config: lora_lib.LoRAConfig) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """params with adapters -> the model's params with the adapters merged in (what model.apply takes)."""

    def view(params):
        base, adapters = split_adapters(params)
        return lora_lib.merge(base, adapters, config)

    return view


def nested(adapters: lora_lib.Adapters) -> dict[str, Any]:
    return traverse_util.unflatten_dict({(*path.split("/"), part): leaf for path, pair in adapters.items()
                                         for part, leaf in pair.items()})


def flat(tree: dict[str, Any]) -> lora_lib.Adapters:
    adapters: lora_lib.Adapters = {}
    for key, leaf in traverse_util.flatten_dict(tree).items():
        adapters.setdefault("/".join(key[:-1]), {})[key[-1]] = leaf
    return adapters
