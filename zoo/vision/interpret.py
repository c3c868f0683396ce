"""What a vision model looks at: saliency maps and first-layer filter grids, as arrays or PNGs.

Saliency (Simonyan et al. 2014): the gradient of the class score (the
pre-softmax logit) with respect to the input pixels, reduced to one value
per pixel by the maximum of |grad| over channels.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util


def saliency_maps(model, variables, images, class_ids=None) -> tuple[np.ndarray, np.ndarray]:
    """images [B, H, W, C] (as the model eats them) -> (maps [B, H, W] >= 0, class ids [B]).

    `class_ids=None` explains each image's predicted class. The model runs in
    eval mode, so BatchNorm uses its running averages.
    """
    images = jnp.asarray(images, jnp.float32)
    ids = None if class_ids is None else jnp.asarray(class_ids, jnp.int32).reshape(-1)
    if ids is not None and ids.shape[0] != images.shape[0]:
        raise ValueError(f"got {ids.shape[0]} class ids for {images.shape[0]} images; give one per image")
    maps, ids = _saliency(model, variables, images, ids)
    return np.asarray(maps), np.asarray(ids)


@functools.partial(jax.jit, static_argnums=0)
def _saliency(model, variables, images, ids):
    """One compiled program per model and batch shape (op by op, a 224-pixel network takes many seconds)."""
    if ids is None:
        ids = jnp.argmax(model.apply(variables, images, train=False), -1)

    def class_score(x):
        # Each example's score depends on its own pixels only, so one gradient of the sum gives all B maps.
        scores = model.apply(variables, x, train=False)
        return jnp.take_along_axis(scores, ids[:, None], axis=1).sum()

    grads = jax.grad(class_score)(images)
    grads = grads if grads.ndim == 4 else grads[..., None]
    return jnp.abs(grads).max(axis=-1), ids


def first_conv_kernel(variables, path: str | None = None) -> np.ndarray:
    """The first convolution's kernel [kh, kw, C_in, C_out]; `path` ('conv1/kernel') picks another."""
    flat = traverse_util.flatten_dict(variables["params"], sep="/")
    if path is not None:
        if path not in flat:
            raise KeyError(f"no parameter {path!r}; 4-D kernels: {[k for k, v in flat.items() if v.ndim == 4]}")
        return np.asarray(flat[path])
    for name, value in flat.items():  # definition order: the stem's conv comes first
        if name.endswith("kernel") and value.ndim == 4:
            return np.asarray(value)
    raise ValueError("the model has no convolution kernels")


def filter_grid(kernel: np.ndarray, pad: int = 1) -> np.ndarray:
    """Kernel [kh, kw, C, N] -> one image [rows*(kh+pad), cols*(kw+pad), 3 or 1] in [0, 1], a tile per filter.

    Each filter is min-max scaled on its own, so the pattern, not its
    magnitude, shows; RGB for 3 input channels, the channel mean otherwise.
    """
    kh, kw, channels, count = kernel.shape
    tiles = kernel.transpose(3, 0, 1, 2)  # [N, kh, kw, C]
    if channels != 3:
        tiles = tiles.mean(axis=-1, keepdims=True)
    lo = tiles.min(axis=(1, 2, 3), keepdims=True)
    hi = tiles.max(axis=(1, 2, 3), keepdims=True)
    tiles = (tiles - lo) / np.maximum(hi - lo, 1e-12)
    cols = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / cols))
    grid = np.ones((rows * (kh + pad) - pad, cols * (kw + pad) - pad, tiles.shape[-1]), np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * (kh + pad): r * (kh + pad) + kh, c * (kw + pad): c * (kw + pad) + kw] = tile
    return grid


def save_filter_grid(variables, path: str | Path, kernel_path: str | None = None) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kernel = first_conv_kernel(variables, kernel_path)
    grid = filter_grid(kernel)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(grid if grid.shape[-1] == 3 else grid[..., 0], cmap=None if grid.shape[-1] == 3 else "gray",
              interpolation="nearest")
    ax.set_title(f"first-layer filters {kernel.shape[0]}x{kernel.shape[1]}, {kernel.shape[3]} of them")
    ax.axis("off")
    return save_figure(fig, path)


def save_saliency(images, maps, path: str | Path, titles: Sequence[str] | None = None) -> Path:
    """A row per image: the image (min-max scaled for display) beside its saliency map."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.asarray(images, np.float32)
    fig, axes = plt.subplots(len(images), 2, figsize=(6, 3 * len(images)), squeeze=False)
    for i, (image, saliency) in enumerate(zip(images, maps)):
        shown = (image - image.min()) / max(float(image.max() - image.min()), 1e-12)
        axes[i, 0].imshow(shown if shown.ndim == 3 and shown.shape[-1] == 3 else shown.squeeze(), cmap="gray")
        axes[i, 1].imshow(saliency, cmap="hot")
        axes[i, 0].set_title(titles[i] if titles else "input")
        axes[i, 1].set_title("saliency max|d score / d x|")
        for ax in axes[i]:
            ax.axis("off")
    return save_figure(fig, path)


def save_figure(fig, path) -> Path:
    """Write a matplotlib figure as PNG (folders made), then close it so long runs do not pile up figures."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
