"""Multi-layer perceptron: Dense-activation stacks on flattened input."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from zoo.layers import flatten_features
from zoo.layers.examples import float_inputs
from zoo.registry import Reference, register_model

_ACTIVATIONS = {"relu": nn.relu, "gelu": nn.gelu, "tanh": jnp.tanh, "sigmoid": nn.sigmoid, "silu": nn.silu}


class MLP(nn.Module):
    """[B, ...] -> logits [B, num_classes]; hidden sizes and activation configurable."""

    hidden: Sequence[int] = (512, 512)
    num_classes: int = 10
    activation: str = "relu"
    dropout: float = 0.0
    in_features: int | None = None
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {sorted(_ACTIVATIONS)}")
        act = _ACTIVATIONS[self.activation]
        h = flatten_features(x, self.in_features, "MLP").astype(self.dtype)  # [B, F]
        for i, width in enumerate(self.hidden):
            h = act(nn.Dense(width, dtype=self.dtype, param_dtype=self.param_dtype, name=f"hidden_{i}")(h))
            if self.dropout:
                h = nn.Dropout(self.dropout, deterministic=not train)(h)
        logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype, name="head")(h)
        return logits.astype(jnp.float32)  # [B, num_classes]; f32 for a stable softmax under bf16


def _register_mlp(name: str, defaults: dict, reference: tuple[float, str], description: str) -> None:
    value, source = reference
    register_model(
        name, MLP, family="mlp", task="classification", loss="softmax_cross_entropy", default_dataset="mnist",
        input_spec="float32 [B, F] or images [B, H, W(, C)] (flattened); F fixed at first call",
        example_input_shape=(28, 28), example=float_inputs,
        reference=Reference("test_accuracy", value, "mnist", source), description=description, defaults=defaults,
        recipe={"epochs": 20, "batch_size": 128, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine"},
        data_fields={"num_classes": "num_classes", "in_features": "input_features"},
    )


_register_mlp(
    "mlp", {"hidden": (512, 512), "dropout": 0.2},
    (0.984, "Keras examples/mnist_mlp.py: 784-512-512-10 ReLU, 98.40% after 20 epochs"),
    "784-512-512-10 ReLU MLP with dropout 0.2, as in the Keras MNIST example; sizes configurable via `hidden`.")

_register_mlp(
    "mlp_small", {"hidden": (50, 20)},
    (0.9695, "LeCun et al. 1998, MNIST table: 3-layer NN 300+100 hidden units, 3.05% error "
             "(the nearest published fully-connected net to 784-50-20-10)"),
    "784-50-20-10 ReLU MLP: the small fully-connected network of the course notes.")
