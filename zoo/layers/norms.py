"""Normalisations of Transformer blocks: LayerNorm (BERT, GPT-2, ViT) and RMSNorm (T5, Llama).

Both reduce in float32 whatever the compute dtype, because a bf16 mean of squares over a wide feature axis
loses most of its bits; `norm_layer` builds either one by name, so a block's config picks with a string.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import SettingError

NORMS = ("layernorm", "rmsnorm")


class RMSNorm(nn.Module):
    """x [..., D] -> x / sqrt(mean(x^2) + eps) * scale (Zhang & Sennrich 2019): no centring, no bias.

    As Hugging Face Llama: normalise in float32, cast to the compute dtype, then multiply by the scale."""

    epsilon: float = 1e-6
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],), self.param_dtype)
        x32 = x.astype(jnp.float32)
        normalized = x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), axis=-1, keepdims=True) + self.epsilon)
        dtype = x.dtype if self.dtype is None else self.dtype
        return normalized.astype(dtype) * scale.astype(dtype)


def norm_layer(kind: str, epsilon: float, *, dtype: Any = None, param_dtype: Any = jnp.float32,
               name: str | None = None) -> nn.Module:
    """'layernorm' (flax's, with `scale` and `bias`) or 'rmsnorm' (`scale` only) with the given epsilon.

    Mind the epsilons when porting: torch.nn.LayerNorm 1e-5, BERT 1e-12, GPT-2 1e-5, Llama RMSNorm 1e-5 or 1e-6."""
    if kind == "layernorm":
        return nn.LayerNorm(epsilon=epsilon, dtype=dtype, param_dtype=param_dtype, name=name)
    if kind == "rmsnorm":
        return RMSNorm(epsilon=epsilon, dtype=dtype, param_dtype=param_dtype, name=name)
    raise SettingError(f"unknown norm {kind!r}; use one of {', '.join(NORMS)}")
