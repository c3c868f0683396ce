"""An image read as a sequence: a GRU takes one pixel row per time step and a Dense head
classifies its last hidden state (the classic "RNN on MNIST" exercise)."""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from zoo.layers.examples import float_inputs
from zoo.registry import register_model
from zoo.sequence.cards import sequence
from zoo.sequence.recurrence import hidden_of
from zoo.sequence.recurrent import Recurrent
from zoo.vision.common import as_images


class RowReader(nn.Module):
    """Images [B, H, W] or [B, H, W, C] -> logits [B, num_classes].

    Row h (its W * C values) is time step h; the classifier reads the top layer's final state."""

    num_classes: int = 10
    hidden_size: int = 128
    num_layers: int = 1
    cell: str = "gru"
    dropout: float = 0.0  # between stacked layers, in training
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        images = as_images(x, "row reader")  # [B, H, W, C]
        rows = images.reshape(*images.shape[:2], -1)  # [B, H, W * C]: one row per step
        _, final = Recurrent(cell=self.cell, hidden_size=self.hidden_size, num_layers=self.num_layers,
                             dropout=self.dropout, dtype=self.dtype, param_dtype=self.param_dtype,
                             name="rnn")(rows, train=train)
        h_n = hidden_of(final)  # [L, B, H]
        logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype, name="head")(h_n[-1])
        return logits.astype(jnp.float32)  # [B, num_classes]


register_model(
    "gru_rows", RowReader, **sequence(
    reference=(0.888, "fashion_mnist",
               "Zalando Research, Fashion-MNIST benchmark table (github.com/zalandoresearch/fashion-mnist): "
               "GRU + SVM, 0.888-0.897"),
    description="GRU reading a 28x28 image one pixel row per step; Dense head on the last hidden state.",
    input_dtype="float32", default_dataset="fashion_mnist", example=float_inputs,
    data_fields={"num_classes": "num_classes"}, example_input_shape=(28, 28), head=("head",),
    defaults={"num_classes": 10, "hidden_size": 128, "num_layers": 1},
    # Measured with this recipe: test accuracy 0.8984 in 11 minutes on 2 shared CPU cores (lr 1e-3: 0.879).
    recipe={"epochs": 10, "batch_size": 128, "optimizer": "adam", "lr": 3e-3, "schedule": "cosine",
            "clip_norm": 1.0},
    input_spec="float32 images [B, H, W] or [B, H, W, C] (values scaled to [0, 1]); each row is one time step",
))
