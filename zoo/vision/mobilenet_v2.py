"""MobileNetV2 (Sandler et al. 2018) as in torchvision: inverted residuals with linear bottlenecks.

Names follow torchvision's attribute paths (`features.3.conv.1.0` ->
`features_3` / `conv_1_0`), so its state dicts port through
`zoo.weights.torch_to_flax` unchanged.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from zoo.registry import register_model
from zoo.vision.cards import vision
from zoo.vision.common import (IMAGENET_PREPROCESSING, adaptive_avg_pool, as_images, batch_norm,
                               flatten_channels_first, sow_embedding)

# (expansion t, output channels c, repeats n, first stride s) per stage, from the paper's Table 2.
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
STEM_CHANNELS = 32
LAST_CHANNELS = 1280

# torchvision's init: He-normal over fan_out for convs (depthwise included), N(0, 0.01) for the Linear.
_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
_linear_init = nn.initializers.normal(0.01)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Nearest multiple of `divisor` (at least `divisor`), never more than 10% below `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _conv_bn_relu6(module: nn.Module, x, train: bool, prefix: str, features: int, *, kernel: int = 3,
                   stride: int = 1, groups: int = 1):
    """Conv2dNormActivation: conv `{prefix}_0` -> BatchNorm `{prefix}_1` -> ReLU6, inside `module`'s compact scope."""
    pad = (kernel - 1) // 2
    x = nn.Conv(features, (kernel, kernel), strides=stride, padding=[(pad, pad), (pad, pad)],
                feature_group_count=groups, use_bias=False, kernel_init=_conv_init,
                dtype=module.dtype, param_dtype=module.param_dtype, name=f"{prefix}_0")(x)
    x = batch_norm(train, name=f"{prefix}_1", eps=1e-5, axis_name=module.bn_axis_name,
                   dtype=module.dtype, param_dtype=module.param_dtype)(x)
    return nn.relu6(x)


class InvertedResidual(nn.Module):
    """[B, H, W, C_in] -> [B, H/s, W/s, C_out]: 1x1 expand, 3x3 depthwise, linear 1x1 project (+ skip)."""

    out_channels: int
    stride: int
    expand_ratio: int
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        in_channels = x.shape[-1]
        hidden = int(round(in_channels * self.expand_ratio))
        h, index = x, 0
        if self.expand_ratio != 1:
            h = _conv_bn_relu6(self, h, train, "conv_0", hidden, kernel=1)
            index = 1
        h = _conv_bn_relu6(self, h, train, f"conv_{index}", hidden, stride=self.stride, groups=hidden)
        # No activation after the projection: the "linear bottleneck" keeps low-dimensional features intact.
        h = nn.Conv(self.out_channels, (1, 1), use_bias=False, kernel_init=_conv_init, dtype=self.dtype,
                    param_dtype=self.param_dtype, name=f"conv_{index + 1}")(h)
        h = batch_norm(train, name=f"conv_{index + 2}", eps=1e-5, axis_name=self.bn_axis_name,
                       dtype=self.dtype, param_dtype=self.param_dtype)(h)
        if self.stride == 1 and in_channels == self.out_channels:
            h = x + h
        return h


class MobileNetV2(nn.Module):
    """Images [B, H, W, 3] -> logits [B, num_classes]; channels scale with `width_mult`."""

    num_classes: int = 1000
    width_mult: float = 1.0
    round_nearest: int = 8
    dropout: float = 0.2
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        x = as_images(x, "mobilenet_v2").astype(self.dtype)
        channels = make_divisible(STEM_CHANNELS * self.width_mult, self.round_nearest)
        x = _conv_bn_relu6(self, x, train, "features_0", channels, stride=2)
        index = 1
        for expand, out, repeats, stride in STAGES:
            out_channels = make_divisible(out * self.width_mult, self.round_nearest)
            for i in range(repeats):
                x = InvertedResidual(out_channels, stride if i == 0 else 1, expand, dtype=self.dtype,
                                     param_dtype=self.param_dtype, bn_axis_name=self.bn_axis_name,
                                     name=f"features_{index}")(x, train=train)
                index += 1
        # The last 1x1 conv only widens (never narrows) with the multiplier, as in the paper.
        last = make_divisible(LAST_CHANNELS * max(1.0, self.width_mult), self.round_nearest)
        x = _conv_bn_relu6(self, x, train, f"features_{index}", last, kernel=1)
        pooled = flatten_channels_first(adaptive_avg_pool(x, 1))  # [B, last]
        sow_embedding(self, pooled)
        pooled = nn.Dropout(self.dropout, deterministic=not train)(pooled)
        logits = nn.Dense(self.num_classes, kernel_init=_linear_init, dtype=self.dtype,
                          param_dtype=self.param_dtype, name="classifier_1")(pooled)
        return logits.astype(jnp.float32)  # [B, num_classes]


register_model(
    "mobilenet_v2", MobileNetV2, **vision(
    reference=(0.71878, "imagenet", "torchvision MobileNet_V2_Weights.IMAGENET1K_V1: acc@1 71.878 (224x224 crop)"),
    description="MobileNetV2: inverted residual blocks with depthwise 3x3 convs, ReLU6 and linear bottlenecks; "
                "`width_mult` scales every layer's channels.",
    example_input_shape=(32, 32, 3),
    preprocessing=IMAGENET_PREPROCESSING, head=("classifier_1",),
))
