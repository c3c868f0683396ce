"""Hugging Face GPT-2 checkpoints -> zoo.text.gpt.GPT: the key mapping, and GPT-2's Conv1D layout.

Like nanoGPT's `from_pretrained`, the mapping is written out for this one architecture. It reads `GPT2Model`
files (`wte`, `wpe`, `h.N.*`, `ln_f`, as the hub's `gpt2` safetensors are stored) and the same under the
`transformer.` prefix of `GPT2LMHeadModel`. Inside each block:

    ln_1 -> attention_norm     attn.c_attn -> attention.qkv     attn.c_proj -> attention.out
    ln_2 -> mlp_norm           mlp.c_fc    -> mlp.up            mlp.c_proj  -> mlp.down

GPT-2's projections are `transformers.pytorch_utils.Conv1D`, whose weight is already [in, out] (a Dense
kernel's layout), while zoo.weights.convert transposes every 2-D weight as an nn.Linear [out, in]. The
converter has no per-key layout hook, so `gpt2_state_dict` transposes the Conv1D weights first and the
converter's transpose restores them. Without that step the non-square ones fail with a shape mismatch and the
square attn.c_proj would load transposed, silently: always go through `gpt2_variables` (or `gpt2_state_dict`).

    >>> gpt2_key("transformer.h.3.attn.c_attn.weight")
    'h.3.attention.qkv.weight'
    >>> gpt2_key("h.0.attn.bias") is None  # the causal-mask buffer of old checkpoints, not a variable
    True
"""
from __future__ import annotations

import re
from typing import Mapping

import numpy as np

from zoo.weights.convert import torch_to_flax

# Inside h.N: Hugging Face's module path -> the EncoderBlock's (zoo.layers.transformer_blocks).
_BLOCK = {
    "ln_1": "attention_norm",
    "attn.c_attn": "attention.qkv",
    "attn.c_proj": "attention.out",
    "ln_2": "mlp_norm",
    "mlp.c_fc": "mlp.up",
    "mlp.c_proj": "mlp.down",
}
_TOP = {"wte": "wte", "wpe": "wpe", "ln_f": "ln_f"}
CONV1D = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")  # weights stored [in, out]
_LAYER = re.compile(r"h\.(\d+)\.(.+)")
# attn.bias (the lower-triangular mask) and attn.masked_bias are buffers that older checkpoints saved.
_BUFFERS = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)")
_PREFIX = "transformer."


def _strip(key: str) -> str:
    return key[len(_PREFIX):] if key.startswith(_PREFIX) else key


def gpt2_key(key: str, *, tied: bool = True) -> str | None:
    """A Hugging Face GPT-2 key -> the key zoo.weights.convert reads as GPT's variable; None = not a variable.

    `lm_head.weight` is the token-embedding table itself in every released GPT-2 (tied), so it is skipped;
    `tied=False` maps it to the untied head of GPT(tie_embeddings=False) (an nn.Linear [V, D]: the converter's
    transpose is right for it). Unknown keys come back unchanged, so the converter lists them as unexpected."""
    if key == "lm_head.weight":
        return None if tied else "lm_head.weight"
    key = _strip(key)
    if _BUFFERS.fullmatch(key):
        return None
    module, _, leaf = key.rpartition(".")
    if leaf not in ("weight", "bias"):
        return key
    match = _LAYER.fullmatch(module)
    if match:
        index, inner = match.groups()
        renamed = _BLOCK.get(inner)
        return f"h.{index}.{renamed}.{leaf}" if renamed else key
    renamed = _TOP.get(module)
    return f"{renamed}.{leaf}" if renamed else key


def is_conv1d_weight(key: str) -> bool:
    """Whether `key` (a Hugging Face key) is the [in, out] weight of one of GPT-2's Conv1D projections."""
    match = _LAYER.fullmatch(_strip(key).rpartition(".")[0])
    return key.endswith(".weight") and match is not None and match.group(2) in CONV1D


def gpt2_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The state dict with every Conv1D weight transposed to nn.Linear's [out, in], the layout
    zoo.weights.convert expects of a 2-D weight (it transposes it back into the Dense kernel [in, out])."""
    return {k: (np.asarray(v).T if is_conv1d_weight(k) else v) for k, v in state_dict.items()}


def gpt2_variables(state_dict: Mapping[str, np.ndarray], template, *, tied: bool = True,
                   source: str = "GPT-2 weights") -> dict:
    """GPT variables shaped like `template` (e.g. jax.eval_shape of model.init) from a Hugging Face GPT-2
    state dict; raises zoo.weights.WeightsMismatchError listing every missing, unexpected or mis-shaped key."""
    return torch_to_flax(gpt2_state_dict(state_dict), template, rename=lambda k: gpt2_key(k, tied=tied),
                         source=source)
