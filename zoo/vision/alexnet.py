"""AlexNet in torchvision's single-tower form (Krizhevsky 2014, "One weird trick"), torchvision names."""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from zoo.registry import register_model
from zoo.vision.cards import vision
from zoo.vision.common import (IMAGENET_PREPROCESSING, adaptive_avg_pool, as_images, flatten_channels_first,
                               max_pool, sow_embedding)

# (torchvision index in `features`, out channels, kernel, stride, padding, max-pool after it)
_CONVS = ((0, 64, 11, 4, 2, True), (3, 192, 5, 1, 2, True), (6, 384, 3, 1, 1, False),
          (8, 256, 3, 1, 1, False), (10, 256, 3, 1, 1, True))


class AlexNet(nn.Module):
    """[B, H, W, 3] (H, W >= 63) -> logits [B, num_classes].

    Five ReLU convs with three 3x3/2 max-pools, adaptive average pooling to
    6x6, then Dropout-Dense(4096)-ReLU twice and the Dense head.
    """

    num_classes: int = 1000
    dropout: float = 0.5
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        x = as_images(x, "alexnet", min_size=63).astype(self.dtype)  # [B, H, W, C]
        dense = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        for index, width, kernel, stride, pad, pool in _CONVS:
            x = nn.Conv(width, (kernel, kernel), (stride, stride), padding=((pad, pad), (pad, pad)),
                        name=f"features_{index}", **dense)(x)
            x = nn.relu(x)
            if pool:
                x = max_pool(x, 3, 2)
        x = flatten_channels_first(adaptive_avg_pool(x, 6))  # [B, 256*6*6]
        for index in (1, 4):  # torchvision: classifier.0 / .3 are Dropout, .1 / .4 Linear
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
            x = nn.relu(nn.Dense(4096, name=f"classifier_{index}", **dense)(x))
        sow_embedding(self, x)  # [B, 4096]
        logits = nn.Dense(self.num_classes, name="classifier_6", **dense)(x)
        return logits.astype(jnp.float32)  # [B, num_classes]


register_model(
    "alexnet", AlexNet, **vision(
    reference=(0.56522, "imagenet", "torchvision AlexNet_Weights.IMAGENET1K_V1: ImageNet-1K acc@1 56.522%"),
    description="AlexNet (torchvision single-tower variant): 5 convs, 3 max-pools, 6x6 adaptive pool, "
                "two 4096-unit Dense layers with dropout 0.5.",
    example_input_shape=(64, 64, 3), preprocessing=IMAGENET_PREPROCESSING, head=("classifier_6",),
    # 28x28 Fashion-MNIST is below the 63 px minimum; Adam at 1e-4 because there is no BatchNorm.
    recipe={"image_size": 64, "lr": 1e-4},
))
