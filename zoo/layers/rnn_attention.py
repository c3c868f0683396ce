"""Attention of a recurrent decoder state over encoder outputs: Bahdanau (additive) and Luong (multiplicative).

Both split the work the same way, so a decoder pays for the encoder side once per source sequence:
`project_keys(memory)` runs once after encoding, then every decoding step calls
`attention(query, memory, keys, mask)`. Padding positions (mask False) get exactly zero weight.

    score(q, m_s) = v . tanh(W_q q + W_k m_s)     Bahdanau et al. 2015 ('additive')
    score(q, m_s) = (q W) . m_s                  Luong et al. 2015 ('general')
    score(q, m_s) = q . m_s                      Luong et al. 2015 ('dot'; needs equal widths)
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import InputShapeError, SettingError
from zoo.layers.masks import masked_softmax


def _check(query, memory, keys, mask) -> None:
    if memory.ndim != 3 or query.ndim != 2 or query.shape[0] != memory.shape[0]:
        raise InputShapeError(f"attention expects query [B, Hq] and memory [B, S, Hm]; got {query.shape} and "
                              f"{memory.shape}")
    if mask.shape != memory.shape[:2] or keys.shape[:2] != memory.shape[:2]:
        raise InputShapeError(f"attention: mask {mask.shape} and keys {keys.shape} must match memory's [B, S] = "
                              f"{memory.shape[:2]}")


def _read(weights: jax.Array, memory: jax.Array) -> jax.Array:
    """weights [B, S], memory [B, S, Hm] -> context [B, Hm]."""
    return jnp.einsum("bs,bsh->bh", weights.astype(memory.dtype), memory)


class BahdanauAttention(nn.Module):
    """Additive attention. query [B, Hq] (the decoder state), memory [B, S, Hm] (encoder outputs)
    -> (context [B, Hm], weights [B, S])."""

    units: int = 128  # width of the tanh layer the scores come from
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def setup(self):
        dense = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        self.key_proj = nn.Dense(self.units, use_bias=False, **dense)
        self.query_proj = nn.Dense(self.units, **dense)
        self.score = nn.Dense(1, use_bias=False, **dense)

    def project_keys(self, memory: jax.Array) -> jax.Array:
        """memory [B, S, Hm] -> W_k memory [B, S, units], computed once per source."""
        return self.key_proj(memory)

    def __call__(self, query, memory, keys, mask):
        """keys = project_keys(memory); mask [B, S] bool (False = padding)."""
        _check(query, memory, keys, mask)
        hidden = jnp.tanh(keys + self.query_proj(query)[:, None, :])  # [B, S, units]
        weights = masked_softmax(self.score(hidden)[..., 0], mask)
        return _read(weights, memory), weights


class LuongAttention(nn.Module):
    """Multiplicative attention. query [B, Hq], memory [B, S, Hm] -> (context [B, Hm], weights [B, S]).

    'general' learns W [Hq, Hm] and scores (q W) . m_s, the same bilinear form as q . (W' m_s) but one
    [Hq, Hm] product per step instead of one per source position, which keeps beam search cheap.
    'dot' has no parameters and needs Hq == Hm."""

    score_fn: str = "general"  # 'general' | 'dot'
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def project_keys(self, memory: jax.Array) -> jax.Array:
        """The keys are the memory itself (the learned map acts on the query)."""
        return memory

    @nn.compact
    def __call__(self, query, memory, keys, mask):
        """keys = project_keys(memory); mask [B, S] bool (False = padding)."""
        _check(query, memory, keys, mask)
        if self.score_fn == "general":
            query = nn.Dense(memory.shape[-1], use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype,
                             name="query_proj")(query)
        elif self.score_fn != "dot":
            raise SettingError(f"LuongAttention: unknown score_fn {self.score_fn!r}; use 'general' or 'dot'")
        elif query.shape[-1] != memory.shape[-1]:
            raise InputShapeError(f"Luong 'dot' attention needs equal query and memory widths, got "
                                  f"{query.shape[-1]} and {memory.shape[-1]}; use score_fn='general'")
        scores = jnp.einsum("bh,bsh->bs", query.astype(keys.dtype), keys)
        weights = masked_softmax(scores, mask)
        return _read(weights, memory), weights
