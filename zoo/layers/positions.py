"""Absolute position encodings added to token vectors: sinusoidal (fixed) and learned.

Both take x [B, T, D] and optional int `positions` ([B, T] or [T]; default 0..T-1, or an offset range when
decoding one token after a prompt) and return x + encoding[positions] in x's (or `dtype`'s) precision.
Rotary encodings act on queries and keys instead, inside attention: see zoo.layers.rotary.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import InputShapeError, SettingError


def sinusoidal_table(positions: jax.Array, dim: int, max_timescale: float = 10000.0) -> jax.Array:
    """positions int [...] -> float32 [..., dim] with PE[p, 2i] = sin(p / 10000^(2i/d)) and PE[p, 2i+1] = cos(...).

    Sines and cosines interleaved, exactly the formula of Vaswani et al. 2017 (section 3.5) and of the PyTorch
    tutorial; tensor2tensor concatenates the two halves instead, which is a fixed permutation of features."""
    if dim % 2:
        raise SettingError(f"sinusoidal positions need an even width, got {dim}")
    inverse_timescales = max_timescale ** (-jnp.arange(0, dim, 2, dtype=jnp.float32) / dim)  # [d/2]
    angles = positions.astype(jnp.float32)[..., None] * inverse_timescales  # [..., d/2]
    return jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1).reshape(*angles.shape[:-1], dim)


def _positions(x: jax.Array, positions: jax.Array | None, module: str) -> jax.Array:
    if x.ndim != 3:
        raise InputShapeError(f"{module} expects token vectors [B, T, D], got shape {tuple(x.shape)}")
    return jnp.arange(x.shape[1]) if positions is None else positions


class SinusoidalPositions(nn.Module):
    """x [B, T, D] -> x + sinusoidal_table(positions, D). No parameters, any length."""

    max_timescale: float = 10000.0
    dtype: Any = None

    @nn.compact
    def __call__(self, x, positions=None):
        table = sinusoidal_table(_positions(x, positions, "SinusoidalPositions"), x.shape[-1], self.max_timescale)
        dtype = x.dtype if self.dtype is None else self.dtype
        return x.astype(dtype) + table.astype(dtype)


class LearnedPositions(nn.Module):
    """x [B, T, D] -> x + embedding[positions]; `embedding` [max_length, D] is learned (BERT, GPT-2, ViT)."""

    max_length: int
    init_stddev: float = 0.02  # BERT's and GPT-2's initializer range
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, positions=None):
        positions = _positions(x, positions, "LearnedPositions")
        if x.shape[1] > self.max_length:
            raise InputShapeError(f"LearnedPositions holds {self.max_length} positions but got a sequence of "
                                  f"{x.shape[1]}; crop the input or create it with max_length >= {x.shape[1]}")
        table = self.param("embedding", nn.initializers.normal(self.init_stddev), (self.max_length, x.shape[-1]),
                           self.param_dtype)
        dtype = x.dtype if self.dtype is None else self.dtype
        return x.astype(dtype) + jnp.take(table, positions, axis=0).astype(dtype)
