"""What every token model does first: check that it was given token ids, and look them up."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import InputShapeError


def check_token_ids(x, model_name: str, name: str = "x") -> None:
    """Refuse anything but int ids [B, T], naming the fix (InputShapeError is a ValueError)."""
    if x.ndim != 2 or not jnp.issubdtype(x.dtype, jnp.integer):
        raise InputShapeError(f"{model_name} expects int token ids {name} [B, T] (0 = padding), got {x.dtype} "
                              f"{x.shape}; encode text with the data set's TextCodec (zoo.text.TextCodec)")


def embed_ids(embed: nn.Embed, x, frozen: bool) -> jax.Array:
    """embed(x) [B, T, E]; `frozen` stops the table's gradient (e.g. fixed pretrained GloVe rows)."""
    vectors = embed(x)
    return jax.lax.stop_gradient(vectors) if frozen else vectors
