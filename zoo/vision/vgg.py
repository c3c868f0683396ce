"""VGG (Simonyan & Zisserman 2014), configurations A/B/D/E with optional BatchNorm, torchvision names."""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from zoo.registry import register_model
from zoo.vision.cards import vision
from zoo.vision.common import (IMAGENET_PREPROCESSING, adaptive_avg_pool, as_images, batch_norm,
                               flatten_channels_first, max_pool, sow_embedding)

# Conv widths, "M" = 2x2/2 max-pool; the paper's table 1 columns.
CONFIGS: dict[str, tuple[int | str, ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}

# torchvision's initialisation, which its ImageNet recipe (and VGG without BatchNorm) relies on.
_CONV_INIT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
_DENSE_INIT = nn.initializers.normal(0.01)


class VGG(nn.Module):
    """[B, H, W, 3] (H, W >= 32) -> logits [B, num_classes].

    3x3 convs (each optionally followed by BatchNorm) with ReLU and five
    max-pools, adaptive average pooling to 7x7, Dense 4096-4096 with dropout.
    `config` is a key of CONFIGS or an explicit sequence of widths and "M".
    """

    config: str | Sequence[int | str] = "D"
    batch_norm: bool = False
    num_classes: int = 1000
    dropout: float = 0.5
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        layers = CONFIGS[self.config] if isinstance(self.config, str) else tuple(self.config)
        min_size = 2 ** sum(1 for v in layers if v == "M")
        x = as_images(x, "vgg", min_size=min_size).astype(self.dtype)  # [B, H, W, C]
        dense = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        index = 0  # position in torchvision's `features` Sequential (ReLU and BatchNorm count too)
        for value in layers:
            if value == "M":
                x = max_pool(x, 2, 2)
                index += 1
                continue
            x = nn.Conv(int(value), (3, 3), padding=((1, 1), (1, 1)), kernel_init=_CONV_INIT,
                        name=f"features_{index}", **dense)(x)
            if self.batch_norm:
                x = batch_norm(train, name=f"features_{index + 1}", axis_name=self.bn_axis_name, **dense)(x)
            x = nn.relu(x)
            index += 3 if self.batch_norm else 2
        x = flatten_channels_first(adaptive_avg_pool(x, 7))  # [B, 512*7*7]
        for index in (0, 3):  # torchvision: Linear, ReLU, Dropout twice, then the head at 6
            x = nn.relu(nn.Dense(4096, kernel_init=_DENSE_INIT, name=f"classifier_{index}", **dense)(x))
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        sow_embedding(self, x)  # [B, 4096]
        logits = nn.Dense(self.num_classes, kernel_init=_DENSE_INIT, name="classifier_6", **dense)(x)
        return logits.astype(jnp.float32)  # [B, num_classes]


def _register(name: str, config: str, bn: bool, acc_percent: float) -> None:
    depth = name.removeprefix("vgg").removesuffix("_bn")
    register_model(
        name, VGG, **vision(
        reference=(round(acc_percent / 100, 5), "imagenet",
                   f"torchvision {name.upper()}_Weights.IMAGENET1K_V1: ImageNet-1K acc@1 {acc_percent:.3f}%"),
        description=f"VGG-{depth} (configuration {config}){' with BatchNorm' if bn else ''}: 3x3 convs, "
                    "five max-pools, 7x7 adaptive pool, Dense 4096-4096 with dropout 0.5.",
        defaults={"config": config, "batch_norm": bn}, example_input_shape=(32, 32, 3),
        preprocessing=IMAGENET_PREPROCESSING, head=("classifier_6",),
        # 28x28 Fashion-MNIST is below the 32 px minimum; without BatchNorm Adam needs a smaller step.
        recipe={"image_size": 32, "lr": 1e-3 if bn else 1e-4},
    ))


# torchvision IMAGENET1K_V1 acc@1 (%) of each variant
_register("vgg11", "A", False, 69.020)
_register("vgg13", "B", False, 69.928)
_register("vgg16", "D", False, 71.592)
_register("vgg19", "E", False, 72.376)
_register("vgg11_bn", "A", True, 70.370)
_register("vgg13_bn", "B", True, 71.586)
_register("vgg16_bn", "D", True, 73.360)
_register("vgg19_bn", "E", True, 74.218)
