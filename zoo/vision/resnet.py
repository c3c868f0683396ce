"""ResNet-18/34/50/101/152 (He et al. 2015) as torchvision builds them (v1.5: the stride sits on the 3x3 conv).

Submodules follow torchvision's names (`conv1`, `layer2_0/downsample_0`, `fc`), so its
state dicts port through `zoo.weights.convert.torch_to_flax` unchanged. A small-image
stem (3x3 stride-1 conv1, no max-pool) serves 28-32 px inputs such as CIFAR; loaded
weights fix the stem they were trained with (`FIELDS_FROM_WEIGHTS`).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax.numpy as jnp

from zoo.registry import register_model
from zoo.vision.cards import vision
from zoo.vision.common import (IMAGENET_PREPROCESSING, adaptive_avg_pool, as_images, batch_norm,
                               flatten_channels_first, max_pool, sow_embedding)

# torchvision's init: Kaiming normal over fan-out for convs (BN scale 1, bias 0 is flax's default),
# and PyTorch's Linear default U(+-1/sqrt(fan_in)) for the classifier kernel.
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
linear_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")

# Inputs no larger than this get the small-image stem when `small_stem` is None.
SMALL_STEM_MAX_SIZE = 64


class _Block(nn.Module):
    """Shared fields of the residual blocks; `planes` is the block's inner width."""

    planes: int
    stride: int = 1
    downsample: bool = False
    zero_init_residual: bool = False
    bn_axis_name: str | None = None
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    def conv(self, features: int, kernel: int, stride: int, name: str):
        pad = kernel // 2
        return nn.Conv(features, (kernel, kernel), (stride, stride), padding=((pad, pad), (pad, pad)),
                       use_bias=False, kernel_init=conv_init, dtype=self.dtype, param_dtype=self.param_dtype,
                       name=name)

    def bn(self, train: bool, name: str, last: bool = False):
        if last and self.zero_init_residual:  # each block starts as the identity (Goyal et al. 2017)
            # batch_norm's settings (torch momentum 0.1, eps 1e-5) with a zero scale.
            return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                axis_name=self.bn_axis_name, scale_init=nn.initializers.zeros, dtype=self.dtype,
                                param_dtype=self.param_dtype, name=name)
        return batch_norm(train, name=name, axis_name=self.bn_axis_name, dtype=self.dtype,
                          param_dtype=self.param_dtype)

    def shortcut(self, x, features: int, train: bool):
        if not self.downsample:
            return x
        x = self.conv(features, 1, self.stride, "downsample_0")(x)
        return self.bn(train, "downsample_1")(x)


class BasicBlock(_Block):
    """Two 3x3 convs; [B, H, W, C] -> [B, H/stride, W/stride, planes]."""

    expansion = 1

    @nn.compact
    def __call__(self, x, train: bool = False):
        out = nn.relu(self.bn(train, "bn1")(self.conv(self.planes, 3, self.stride, "conv1")(x)))
        out = self.bn(train, "bn2", last=True)(self.conv(self.planes, 3, 1, "conv2")(out))
        return nn.relu(out + self.shortcut(x, self.planes, train))


class Bottleneck(_Block):
    """1x1 reduce, 3x3 (strided), 1x1 expand; [B, H, W, C] -> [B, H/stride, W/stride, 4*planes]."""

    expansion = 4

    @nn.compact
    def __call__(self, x, train: bool = False):
        out = nn.relu(self.bn(train, "bn1")(self.conv(self.planes, 1, 1, "conv1")(x)))
        out = nn.relu(self.bn(train, "bn2")(self.conv(self.planes, 3, self.stride, "conv2")(out)))
        out = self.bn(train, "bn3", last=True)(self.conv(self.planes * 4, 1, 1, "conv3")(out))
        return nn.relu(out + self.shortcut(x, self.planes * 4, train))


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """Images [B, H, W, C] -> logits [B, num_classes].

    `block` is "basic" or "bottleneck", `stage_sizes` the blocks per stage. `small_stem`:
    True = 3x3 stride-1 conv1 and no max-pool; False = torchvision's 7x7/2 conv + 3x3/2 max-pool;
    None = small stem for inputs of at most 64 px, decided when the model is traced.
    """

    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    block: str = "basic"
    num_classes: int = 1000
    small_stem: bool | None = None
    zero_init_residual: bool = False
    bn_axis_name: str | None = None
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        if self.block not in BLOCKS:
            raise ValueError(f"unknown ResNet block {self.block!r}; choose one of {sorted(BLOCKS)}")
        block_cls = BLOCKS[self.block]
        x = as_images(x, "ResNet").astype(self.dtype)  # [B, H, W, C]
        small = self.small_stem if self.small_stem is not None else max(x.shape[1:3]) <= SMALL_STEM_MAX_SIZE
        kernel, stride, pad = (3, 1, 1) if small else (7, 2, 3)
        # Same name in both stems, so the stem is the only thing a shape check tells apart.
        x = nn.Conv(64, (kernel, kernel), (stride, stride), padding=((pad, pad), (pad, pad)), use_bias=False,
                    kernel_init=conv_init, dtype=self.dtype, param_dtype=self.param_dtype, name="conv1")(x)
        x = nn.relu(batch_norm(train, name="bn1", axis_name=self.bn_axis_name, dtype=self.dtype,
                               param_dtype=self.param_dtype)(x))
        if not small:
            x = max_pool(x, 3, 2, padding=1)

        in_features = 64
        for stage, num_blocks in enumerate(self.stage_sizes):
            planes = 64 * 2 ** stage
            for i in range(num_blocks):
                stride = 2 if stage > 0 and i == 0 else 1
                x = block_cls(planes, stride=stride,
                              downsample=i == 0 and (stride != 1 or in_features != planes * block_cls.expansion),
                              zero_init_residual=self.zero_init_residual, bn_axis_name=self.bn_axis_name,
                              dtype=self.dtype, param_dtype=self.param_dtype,
                              name=f"layer{stage + 1}_{i}")(x, train)
                in_features = planes * block_cls.expansion

        x = flatten_channels_first(adaptive_avg_pool(x, 1))  # [B, C]
        sow_embedding(self, x)
        logits = nn.Dense(self.num_classes, kernel_init=linear_init, dtype=self.dtype,
                          param_dtype=self.param_dtype, name="fc")(x)
        return logits.astype(jnp.float32)  # [B, num_classes]


def stem_from_weights(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """`{'small_stem': ...}` from the checkpoint's conv1: 7x7 is torchvision's ImageNet stem, 3x3 the small one.

    Without it, `small_stem=None` would pick the 3x3 stem for inputs of at most 64 px, which a 7x7
    checkpoint does not fit; the weights know which stem they were trained with, the input size does not.
    """
    kernel = state_dict.get("conv1.weight")  # [out, in, h, w]
    sizes = {7: False, 3: True}
    if kernel is None or len(getattr(kernel, "shape", ())) != 4 or kernel.shape[-1] not in sizes:
        return {}  # not a ResNet checkpoint: the port reports what does not match
    return {"small_stem": sizes[kernel.shape[-1]]}


FIELDS_FROM_WEIGHTS = stem_from_weights  # zoo.weights.load_pretrained's hook: model fields a checkpoint decides

_TORCHVISION = "torchvision ResNet{} IMAGENET1K_V1 weights, documented ImageNet-1K acc@1 {}% (224 px centre crop)"

for _depth, _stages, _block, _acc in [
    (18, (2, 2, 2, 2), "basic", 69.758),
    (34, (3, 4, 6, 3), "basic", 73.314),
    (50, (3, 4, 6, 3), "bottleneck", 76.130),
    (101, (3, 4, 23, 3), "bottleneck", 77.374),
    (152, (3, 8, 36, 3), "bottleneck", 78.312),
]:
    register_model(
        f"resnet{_depth}", ResNet, **vision(
        reference=(round(_acc / 100, 5), "imagenet", _TORCHVISION.format(_depth, _acc)),
        description=(f"ResNet-{_depth} ({_block} blocks {'-'.join(map(str, _stages))}) as in torchvision; "
                     "3x3 stride-1 stem without max-pool for inputs of at most 64 px"),
        defaults={"stage_sizes": _stages, "block": _block},
        example_input_shape=(32, 32, 3), preprocessing=IMAGENET_PREPROCESSING, head=("fc",),
    ))
