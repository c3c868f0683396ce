"""Rotary position embedding (RoPE; Su et al. 2021), in the "rotate half" layout of Hugging Face Llama.

Each head vector's feature i is paired with feature i + Dh/2 (not with its neighbour, as in the paper and
GPT-J), and the pair is rotated by the angle position * base^(-2i/Dh). Rotating queries and keys this way
makes q_m . k_n depend on the positions only through m - n. Checkpoints ported from Llama, Mistral, Qwen or
SmolLM expect exactly this pairing; GGUF files store q/k weights permuted for the interleaved one.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from zoo.errors import SettingError


def rotary_cos_sin(positions: jax.Array, head_dim: int, base: float = 10000.0) -> tuple[jax.Array, jax.Array]:
    """positions int [..., T] -> (cos, sin) float32 [..., T, head_dim], each angle written twice (both halves)."""
    if head_dim % 2:
        raise SettingError(f"rotary embedding needs an even head_dim, got {head_dim}")
    inverse_frequencies = 1.0 / (base ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))  # [Dh/2]
    angles = positions.astype(jnp.float32)[..., None] * inverse_frequencies  # [..., T, Dh/2]
    angles = jnp.concatenate([angles, angles], axis=-1)  # [..., T, Dh]
    return jnp.cos(angles), jnp.sin(angles)


def rotate_half(x: jax.Array) -> jax.Array:
    """[..., Dh] -> [..., Dh]: (x1, x2) -> (-x2, x1), the halves as the two coordinates of each rotated pair."""
    first, second = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([-second, first], axis=-1)


def apply_rotary(x: jax.Array, positions: jax.Array | None = None, base: float = 10000.0) -> jax.Array:
    """x [B, T, H, Dh] (queries or keys), positions int [B, T] or [T] (default 0..T-1) -> rotated x, x's dtype.

    The angles are computed in float32: at bf16, position * frequency would lose the position beyond ~256."""
    if x.ndim != 4:
        raise SettingError(f"apply_rotary expects [B, T, H, Dh], got shape {tuple(x.shape)}")
    if positions is None:
        positions = jnp.arange(x.shape[1])
    cos, sin = rotary_cos_sin(positions, x.shape[-1], base)  # [B, T, Dh] or [T, Dh]
    cos, sin = cos[..., None, :], sin[..., None, :]  # broadcast over heads
    rotated = x.astype(jnp.float32) * cos + rotate_half(x.astype(jnp.float32)) * sin
    return rotated.astype(x.dtype)
