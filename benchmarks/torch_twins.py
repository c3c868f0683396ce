"""The same architectures in PyTorch, for side-by-side throughput (NCHW on the torch side)."""
from __future__ import annotations

import numpy as np


def mlp(spec, input_shape):
    import torch

    layers, width = [torch.nn.Flatten()], int(np.prod(input_shape))
    for hidden in spec.hidden:
        layers += [torch.nn.Linear(width, hidden), torch.nn.ReLU()]
        if spec.dropout:
            layers.append(torch.nn.Dropout(spec.dropout))
        width = hidden
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, spec.num_classes))


def lenet5(spec, input_shape):
    """LeNet-5 as zoo builds it: 5x5 convs (the first padded by 2), tanh, 2x2 max-pools, FC 120-84."""
    from torch import nn

    side = input_shape[0]
    flat = 16 * ((side // 2 - 4) // 2) ** 2
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(flat, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, spec.num_classes))


def resnet18(spec, input_shape):
    """torchvision's ResNet-18 with the small-image stem zoo picks at 32 px: 3x3/1 conv, no max-pool."""
    import torch
    import torchvision

    net = torchvision.models.resnet18(num_classes=spec.num_classes)
    if input_shape[0] <= 64:
        net.conv1 = torch.nn.Conv2d(input_shape[-1], 64, 3, 1, 1, bias=False)
        net.maxpool = torch.nn.Identity()
    return net


TWINS = {"mlp": mlp, "mlp_small": mlp, "lenet5": lenet5, "resnet18": resnet18}
# One example's shape per model as zoo eats it (NHWC or [H, W] for grey).
INPUT_SHAPES = {"mlp": (28, 28), "mlp_small": (28, 28), "lenet5": (28, 28), "resnet18": (32, 32, 3)}
