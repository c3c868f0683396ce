"""GoogLeNet / Inception v1 (Szegedy et al. 2014) as torchvision builds it, auxiliary classifiers included.

Names follow torchvision (`inception4a/branch2_1/conv`, `aux1/fc1`), so its state dicts port
through `zoo.weights.convert.torch_to_flax`. Like torchvision, every conv is followed by
BatchNorm (eps 1e-3) and the "5x5" branch uses a 3x3 kernel.

Auxiliary-output convention: with `aux_logits`, the two auxiliary heads are built at init and,
in train mode, their f32 logits [B, num_classes] are sown by the heads themselves, at
`aux_outputs/aux1/logits` and `aux_outputs/aux2/logits` (Flax forbids a variable named like a
submodule); a training step that applies with `mutable=[..., "aux_outputs"]` adds
`weight * sum(loss(l) for l in jax.tree.leaves(aux_outputs))`, the weight (0.3, the paper's) being
declared by the model card (`aux_loss_weight`). `__call__` always returns the main logits.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from zoo.errors import InputShapeError
from zoo.registry import register_model
from zoo.vision.cards import vision
from zoo.vision.common import (IMAGENET_MEAN, IMAGENET_PREPROCESSING, IMAGENET_STD, adaptive_avg_pool, as_images,
                               batch_norm, flatten_channels_first, max_pool, sow_embedding)

# torchvision's init: N(0, 0.01) for conv and linear weights (its +-2 truncation is 200 sigma), BN scale 1 bias 0.
weight_init = nn.initializers.normal(0.01)


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps 1e-3) -> ReLU."""

    features: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    bn_axis_name: str | None = None
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        pad = ((self.padding, self.padding),) * 2
        x = nn.Conv(self.features, (self.kernel, self.kernel), (self.stride, self.stride), padding=pad,
                    use_bias=False, kernel_init=weight_init, dtype=self.dtype, param_dtype=self.param_dtype,
                    name="conv")(x)
        x = batch_norm(train, name="bn", eps=1e-3, axis_name=self.bn_axis_name, dtype=self.dtype,
                       param_dtype=self.param_dtype)(x)
        return nn.relu(x)


class Inception(nn.Module):
    """Four parallel branches concatenated on channels: [B, H, W, C] -> [B, H, W, ch1x1+ch3x3+ch5x5+pool_proj]."""

    ch1x1: int
    ch3x3red: int
    ch3x3: int
    ch5x5red: int
    ch5x5: int
    pool_proj: int
    bn_axis_name: str | None = None
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        def conv(features, kernel, name):
            return BasicConv2d(features, kernel, padding=kernel // 2, bn_axis_name=self.bn_axis_name,
                               dtype=self.dtype, param_dtype=self.param_dtype, name=name)

        branch1 = conv(self.ch1x1, 1, "branch1")(x, train)
        branch2 = conv(self.ch3x3, 3, "branch2_1")(conv(self.ch3x3red, 1, "branch2_0")(x, train), train)
        # torchvision's "5x5" branch has used a 3x3 kernel since its first release; its weights need it.
        branch3 = conv(self.ch5x5, 3, "branch3_1")(conv(self.ch5x5red, 1, "branch3_0")(x, train), train)
        branch4 = conv(self.pool_proj, 1, "branch4_1")(max_pool(x, 3, 1, padding=1, ceil_mode=True), train)
        return jnp.concatenate([branch1, branch2, branch3, branch4], axis=-1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: [B, H, W, C] -> logits [B, num_classes] (4x4 average pool, 1x1 conv, two FCs)."""

    num_classes: int
    dropout: float = 0.7
    bn_axis_name: str | None = None
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = adaptive_avg_pool(x, 4)
        x = BasicConv2d(128, 1, bn_axis_name=self.bn_axis_name, dtype=self.dtype, param_dtype=self.param_dtype,
                        name="conv")(x, train)
        x = flatten_channels_first(x)  # [B, 2048]
        x = nn.relu(nn.Dense(1024, kernel_init=weight_init, dtype=self.dtype, param_dtype=self.param_dtype,
                             name="fc1")(x))
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        logits = nn.Dense(self.num_classes, kernel_init=weight_init, dtype=self.dtype,
                          param_dtype=self.param_dtype, name="fc2")(x).astype(jnp.float32)
        if train and not self.is_initializing():  # init must not return an aux_outputs collection
            # Sown here, not by GoogLeNet: a variable there named "aux1" would clash with this module's scope.
            self.sow("aux_outputs", "logits", logits)
        return logits


# (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) per block, from the paper's Table 1.
_INCEPTION = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Module):
    """Images [B, H, W, 3] (at least 15x15) -> main logits [B, num_classes]; aux logits are sown in train mode.

    `transform_input` re-normalises ImageNet-normalised input to the (x - 0.5) / 0.5 scale, as
    torchvision does for its ported weights. `aux_logits=False` drops the auxiliary heads.
    """

    num_classes: int = 1000
    aux_logits: bool = True
    transform_input: bool = False
    dropout: float = 0.2
    dropout_aux: float = 0.7
    bn_axis_name: str | None = None
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        x = as_images(x, "GoogLeNet", min_size=15)  # [B, H, W, C]
        if self.transform_input:
            if x.shape[-1] != 3:
                raise InputShapeError(f"GoogLeNet(transform_input=True) needs RGB images, got {x.shape[-1]} "
                                      "channels; repeat grey images to 3 channels or set transform_input=False")
            mean, std = jnp.asarray(IMAGENET_MEAN), jnp.asarray(IMAGENET_STD)
            x = x * (std / 0.5) + (mean - 0.5) / 0.5  # undo ImageNet normalisation, apply (x - 0.5) / 0.5
        x = x.astype(self.dtype)
        common = dict(bn_axis_name=self.bn_axis_name, dtype=self.dtype, param_dtype=self.param_dtype)

        def inception(name, x):
            return Inception(*_INCEPTION[name], **common, name=name)(x, train)

        def aux(name, x):
            # Built at init whatever the mode, so the parameter tree never depends on `train`.
            if not self.aux_logits or not (train or self.is_initializing()):
                return
            InceptionAux(self.num_classes, self.dropout_aux, **common, name=name)(x, train)

        x = BasicConv2d(64, 7, stride=2, padding=3, **common, name="conv1")(x, train)
        x = max_pool(x, 3, 2, ceil_mode=True)
        x = BasicConv2d(64, 1, **common, name="conv2")(x, train)
        x = BasicConv2d(192, 3, padding=1, **common, name="conv3")(x, train)
        x = max_pool(x, 3, 2, ceil_mode=True)
        x = inception("inception3b", inception("inception3a", x))
        x = max_pool(x, 3, 2, ceil_mode=True)
        x = inception("inception4a", x)
        aux("aux1", x)
        x = inception("inception4d", inception("inception4c", inception("inception4b", x)))
        aux("aux2", x)
        x = inception("inception4e", x)
        x = max_pool(x, 2, 2, ceil_mode=True)
        x = inception("inception5b", inception("inception5a", x))

        x = flatten_channels_first(adaptive_avg_pool(x, 1))  # [B, 1024]
        sow_embedding(self, x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        logits = nn.Dense(self.num_classes, kernel_init=weight_init, dtype=self.dtype, param_dtype=self.param_dtype,
                          name="fc")(x)
        return logits.astype(jnp.float32)  # [B, num_classes]


register_model(
    "googlenet", GoogLeNet, **vision(
    reference=(0.69778, "imagenet",
               "torchvision GoogLeNet IMAGENET1K_V1 weights, documented ImageNet-1K acc@1 69.778% "
               "(224 px centre crop, transform_input=True)"),
    description=("GoogLeNet / Inception v1 with BatchNorm as in torchvision; two auxiliary classifiers "
                 "sown as aux_outputs in train mode (loss weight 0.3)"),
    example_input_shape=(32, 32, 3), preprocessing=IMAGENET_PREPROCESSING, head=("fc", "aux1", "aux2"),
    aux_loss_weight=0.3,
))
