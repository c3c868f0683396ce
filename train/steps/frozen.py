"""A frozen backbone: train only some top-level params, closing over the rest (no backward pass through them)."""
from __future__ import annotations

from typing import Any


def split_params(params: dict[str, Any], trainable: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Top-level partition: (the `trainable` params, the rest)."""
    return ({k: v for k, v in params.items() if k in trainable}, {k: v for k, v in params.items() if k not in trainable})


def merge_params(trained: dict[str, Any], fixed: dict[str, Any]) -> dict[str, Any]:
    return {**fixed, **trained}
