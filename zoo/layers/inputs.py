"""Input checks shared by models that take flat feature vectors."""
from __future__ import annotations

import jax.numpy as jnp

from zoo.errors import InputShapeError


def flatten_features(x, in_features: int | None, model: str):
    """[B, ...] float -> [B, F], with an error that names the fix for wrong inputs.

    `in_features=None` accepts any feature count (Dense infers it at init);
    a set value is checked so that a model built for one data set fails
    clearly, not with a parameter-shape error, on another.
    """
    if x.ndim < 2:
        raise InputShapeError(
            f"{model} expects a batch [B, features...], got shape {tuple(x.shape)}; "
            "add a batch axis, e.g. x[None]"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise InputShapeError(
            f"{model} expects floating-point input, got {x.dtype}; "
            "scale integer pixels to floats first, e.g. x.astype('float32') / 255"
        )
    flat = x.reshape(x.shape[0], -1)
    if in_features is not None and flat.shape[1] != in_features:
        raise InputShapeError(
            f"{model} was built for {in_features} input features per example but got "
            f"{flat.shape[1]} (input shape {tuple(x.shape)}); create it with in_features="
            f"{flat.shape[1]} or give it inputs of the size it was built for"
        )
    return flat
