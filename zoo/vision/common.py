"""Conventions shared by the vision family.

Every vision module mirrors its PyTorch reference closely enough that
weights port by a generic rule (see `zoo.weights.convert`):

* Submodule names are the torchvision attribute path with each run of list
  indices joined by underscores: `layer1.0.downsample.0` -> `layer1_0` /
  `downsample_0`; `features.1.conv.0.0` -> `features_1` / `conv_0_0`.
* Images are NHWC (channels last, the fast layout for XLA on every
  backend); before the first Linear layer they are flattened in PyTorch's
  channel-first order so Linear weights need no permutation.
* Pooling follows PyTorch's rules (explicit padding, `ceil_mode`, adaptive
  average pooling), BatchNorm its epsilon and momentum.
* The pooled embedding the classifier reads is sown as
  `intermediates/embedding` (see `extract_features`).
"""
from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import InputShapeError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# What torchvision's ImageNet weights expect: resize the short side, centre crop, normalise.
IMAGENET_PREPROCESSING = {"resize": 256, "crop": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
                          "interpolation": "bilinear"}


def as_images(x: jax.Array, model: str, min_size: int = 1) -> jax.Array:
    """[B, H, W] or [B, H, W, C] float -> [B, H, W, C], with errors that name the fix."""
    if x.ndim == 3:
        x = x[..., None]  # grey images without a channel axis
    if x.ndim != 4:
        raise InputShapeError(
            f"{model} expects images [B, H, W, C] (or [B, H, W] for grey), got shape {tuple(x.shape)}; "
            "channels go last (NHWC): transpose NCHW arrays with x.transpose(0, 2, 3, 1)")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise InputShapeError(
            f"{model} expects floating-point images, got {x.dtype}; scale pixels first, e.g. x.astype('float32') / 255")
    if min(x.shape[1:3]) < min_size:
        raise InputShapeError(
            f"{model} needs images of at least {min_size}x{min_size} pixels, got {x.shape[1]}x{x.shape[2]}; "
            "resize them first (e.g. jax.image.resize), or use a small-image variant if the model has one")
    return x


def _pool_padding(size: int, window: int, stride: int, padding: int, ceil_mode: bool) -> tuple[int, int]:
    """PyTorch's output-size rule as explicit (low, high) padding."""
    span = size + 2 * padding - window
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # PyTorch: the last window must start inside the input or left padding
    high = max((out - 1) * stride + window - size - padding, 0)
    return padding, high


def max_pool(x, window: int, stride: int, padding: int = 0, ceil_mode: bool = False):
    """`torch.nn.MaxPool2d(window, stride, padding, ceil_mode=...)` on NHWC input."""
    pads = [_pool_padding(x.shape[d], window, stride, padding, ceil_mode) for d in (1, 2)]
    return nn.max_pool(x, (window, window), (stride, stride), padding=pads)  # pads with -inf


def avg_pool(x, window: int, stride: int, padding: int = 0, ceil_mode: bool = False):
    """`torch.nn.AvgPool2d` with count_include_pad=True (its default) on NHWC input."""
    pads = [_pool_padding(x.shape[d], window, stride, padding, ceil_mode) for d in (1, 2)]
    return nn.avg_pool(x, (window, window), (stride, stride), padding=pads, count_include_pad=True)


def adaptive_avg_pool(x, output_size: int | tuple[int, int]):
    """`torch.nn.AdaptiveAvgPool2d` on NHWC input: bin i covers [floor(i*H/o), ceil((i+1)*H/o))."""
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else output_size
    height, width = x.shape[1:3]
    if (height, width) == (out_h, out_w):
        return x
    if height % out_h == 0 and width % out_w == 0:  # equal bins: one reshape-mean
        x = x.reshape(x.shape[0], out_h, height // out_h, out_w, width // out_w, x.shape[3])
        return x.mean(axis=(2, 4))

    def bins(size, out):
        return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]

    rows = [x[:, a:b].mean(axis=1, keepdims=True) for a, b in bins(height, out_h)]
    x = jnp.concatenate(rows, axis=1)
    cols = [x[:, :, a:b].mean(axis=2, keepdims=True) for a, b in bins(width, out_w)]
    return jnp.concatenate(cols, axis=2)


def global_avg_pool(x):
    """[B, H, W, C] -> [B, C]."""
    return x.mean(axis=(1, 2))


def flatten_channels_first(x):
    """[B, H, W, C] -> [B, C*H*W] in PyTorch's order, so ported Linear weights match unchanged."""
    return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)


def batch_norm(train: bool, *, name: str, eps: float = 1e-5, torch_momentum: float = 0.1,
               axis_name: str | None = None, dtype: Any = jnp.float32, param_dtype: Any = jnp.float32):
    """`torch.nn.BatchNorm2d(eps=..., momentum=...)` as flax BatchNorm.

    Flax's momentum is the weight of the *old* average, PyTorch's that of the
    new batch. `axis_name` reduces batch statistics across pmap devices
    (under jit the batch is global already).
    """
    return nn.BatchNorm(use_running_average=not train, momentum=1.0 - torch_momentum, epsilon=eps,
                        axis_name=axis_name, dtype=dtype, param_dtype=param_dtype, name=name)


def sow_embedding(module: nn.Module, embedding_bd: jax.Array) -> None:
    """Record the pooled embedding [B, D] the classifier head reads (see `extract_features`)."""
    module.sow("intermediates", "embedding", embedding_bd)


def extract_features(model: nn.Module, variables, x) -> jax.Array:
    """Pooled embedding [B, D] of a vision classifier in eval mode (BatchNorm running averages).

    Compiled once per model and input shape (op by op, a 224-pixel EfficientNet takes seconds)."""
    return _embedding(model, variables, x)


@functools.partial(jax.jit, static_argnums=0)
def _embedding(model: nn.Module, variables, x) -> jax.Array:
    _, state = model.apply(variables, x, train=False, mutable=["intermediates"])
    try:
        return state["intermediates"]["embedding"][0]
    except KeyError:
        raise ValueError(f"{type(model).__name__} does not record an embedding; "
                         "vision classifiers call zoo.vision.common.sow_embedding before their head") from None
