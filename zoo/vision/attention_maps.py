"""Where a Transformer attends: ViT attention maps over the image, and token x token matrices, as arrays or PNGs.

Two views of a ViT (zoo.vision.vit), each giving one value per patch:

* 'last': the class token's attention over the patches in the last layer, averaged over heads;
* 'rollout' (Abnar & Zuidema 2020, "Quantifying attention flow in transformers"): each layer's head-averaged
  weights plus the identity for the residual path, rows renormalised, multiplied through the layers; the class
  token's row (or, for a mean-pooled ViT, the mean row) of the product.

`save_attention_matrix` draws any [heads, T, T] or [T, T] weights with token labels on both axes, for text
models as well (a BERT/MiniLM layer's weights with its WordPiece tokens).
"""
from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from zoo.vision.interpret import save_figure

METHODS = ("rollout", "last")


def attention_weights(model, variables, images) -> list[np.ndarray]:
    """images [B, H, W, C] -> one float32 array [B, heads, T, T] per layer, first layer first (eval mode).

    Reads the weights the blocks sow as `intermediates/.../attention_weights`; rows sum to 1."""
    sown = _sown_weights(model, variables, jnp.asarray(images, jnp.float32))
    if not sown:
        raise ValueError(f"{type(model).__name__} records no attention weights; attention maps need a model whose "
                         "blocks sow 'attention_weights' into 'intermediates' (zoo.vision.vit)")
    return [np.asarray(w) for w in sown]


@functools.partial(jax.jit, static_argnums=0)
def _sown_weights(model, variables, images):
    _, state = model.apply({k: v for k, v in variables.items() if k != "intermediates"}, images, train=False,
                           mutable=["intermediates"])
    flat = traverse_util.flatten_dict(state.get("intermediates", {}))
    found = [(path, value[0]) for path, value in flat.items() if path[-1] == "attention_weights"]

    def layer_index(item):  # encoder_layer_10 after encoder_layer_9
        return [int(n) if n.isdigit() else n for part in item[0] for n in re.split(r"(\d+)", part)]

    return [value for _, value in sorted(found, key=layer_index)]


def attention_rollout(weights: Sequence[np.ndarray], residual: bool = True) -> np.ndarray:
    """Per-layer weights [B, H, T, T] -> rolled-out attention [B, T, T] (rows sum to 1).

    Heads are averaged; with `residual`, each layer's matrix is 0.5 * A + 0.5 * I (the skip connection)."""
    rolled = None
    for layer in weights:
        a = np.asarray(layer, np.float64).mean(axis=1)  # [B, T, T]
        if residual:
            a = 0.5 * a + 0.5 * np.eye(a.shape[-1])
            a = a / a.sum(axis=-1, keepdims=True)
        rolled = a if rolled is None else a @ rolled
    return rolled.astype(np.float32)


def patch_attention(model, variables, images, method: str = "rollout") -> np.ndarray:
    """images [B, H, W, C] -> attention on each patch [B, gh, gw], each map summing to at most 1.

    The row of the class token (the mean row for a ViT without one), patch columns only."""
    if method not in METHODS:
        raise ValueError(f"unknown attention-map method {method!r}; choose one of {', '.join(METHODS)}")
    images = np.asarray(images, np.float32)
    images = images[..., None] if images.ndim == 3 else images
    weights = attention_weights(model, variables, images)
    matrix = attention_rollout(weights) if method == "rollout" else weights[-1].mean(axis=1)  # [B, T, T]
    patch = getattr(model, "patch_size", None)
    if patch is None:
        raise ValueError(f"{type(model).__name__} has no patch_size: patch attention maps are for ViTs")
    grid = (images.shape[1] // patch, images.shape[2] // patch)
    extra = matrix.shape[-1] - grid[0] * grid[1]  # 1 with a class token, 0 without
    row = matrix[:, 0] if extra else matrix.mean(axis=1)  # [B, T]
    return row[:, extra:].reshape(len(images), *grid)


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """maps [B, gh, gw] -> [B, H, W], each cell repeated over its patch (H, W multiples of gh, gw)."""
    return np.repeat(np.repeat(maps, size[0] // maps.shape[1], axis=1), size[1] // maps.shape[2], axis=2)


def save_attention_overlay(images, maps, path: str | Path, titles: Sequence[str] | None = None) -> Path:
    """A row per image: the image, its patch attention map, and the map over the image. Returns the path.

    images [B, H, W(, C)] (any value range; min-max scaled for display), maps [B, gh, gw] (patch_attention)."""
    plt = _pyplot()
    images = np.asarray(images, np.float32)
    images = images[..., 0] if images.ndim == 4 and images.shape[-1] == 1 else images
    maps = np.asarray(maps, np.float32)
    fig, axes = plt.subplots(len(images), 3, figsize=(7.5, 2.6 * len(images)), squeeze=False)
    for i, (image, cells) in enumerate(zip(images, maps)):
        shown = (image - image.min()) / max(float(image.max() - image.min()), 1e-12)
        heat = upsample(cells[None], image.shape[:2])[0]
        grey = shown.ndim == 2
        axes[i, 0].imshow(shown, cmap="gray" if grey else None)
        axes[i, 0].set_title(titles[i] if titles else "input", fontsize=9)
        axes[i, 1].imshow(cells, cmap="inferno", interpolation="nearest")
        axes[i, 1].set_title(f"attention ({cells.shape[0]}x{cells.shape[1]} patches)", fontsize=9)
        axes[i, 2].imshow(shown, cmap="gray" if grey else None)
        axes[i, 2].imshow(heat, cmap="inferno", alpha=0.55, interpolation="bilinear")
        axes[i, 2].set_title("overlay", fontsize=9)
        for ax in axes[i]:
            ax.axis("off")
    return save_figure(fig, path)


def save_attention_matrix(weights, tokens: Sequence[str], path: str | Path, title: str | None = None,
                          head_names: Sequence[str] | None = None) -> Path:
    """weights [heads, T, T] or [T, T] (row = query, column = key) -> a PNG with a heat map per head and the
    tokens on both axes. Works for any Transformer: ViT tokens ('cls', 'p0', ...) or a text model's WordPieces."""
    weights = np.asarray(weights, np.float32)
    if weights.ndim == 2:
        weights = weights[None]
    if weights.ndim != 3 or weights.shape[1] != weights.shape[2]:
        raise ValueError(f"attention weights must be [heads, T, T] or [T, T], got shape {weights.shape}; pick one "
                         "example of a batch first (weights[0])")
    count = weights.shape[1]
    if len(tokens) != count:
        raise ValueError(f"got {len(tokens)} token labels for {count}x{count} attention weights; give one per token")
    plt = _pyplot()
    heads = weights.shape[0]
    cols = min(heads, 4)
    rows = math.ceil(heads / cols)
    side = min(max(3.0, 0.28 * count + 1.5), 9.0)
    fig, axes = plt.subplots(rows, cols, figsize=(side * cols, side * rows), squeeze=False)
    font = max(4, min(9, int(220 / max(count, 1))))
    for h in range(rows * cols):
        ax = axes[h // cols, h % cols]
        if h >= heads:
            ax.axis("off")
            continue
        image = ax.imshow(weights[h], cmap="viridis", vmin=0.0, vmax=max(float(weights[h].max()), 1e-12))
        ax.set_xticks(range(count), list(tokens), rotation=90, fontsize=font)
        ax.set_yticks(range(count), list(tokens), fontsize=font)
        ax.set_xlabel("key", fontsize=8)
        ax.set_ylabel("query", fontsize=8)
        ax.set_title(head_names[h] if head_names else (f"head {h}" if heads > 1 else "attention"), fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def save_vit_attention(model, variables, images, path: str | Path, method: str = "rollout",
                       titles: Sequence[str] | None = None) -> Path:
    """patch_attention + save_attention_overlay in one call: a PNG grid of ViT attention over `images`."""
    maps = patch_attention(model, variables, images, method)
    return save_attention_overlay(images, maps, path, titles)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
