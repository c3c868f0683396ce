"""Per-example losses and predictions, keyed by the names model cards use.

Each loss maps (outputs [B, K], targets [B] int class ids or [B, T] float)
to a per-example loss [B]; the step averages it under the batch mask. Binary
losses accept K == 1 (two classes, one score) or K > 2 (one-vs-rest scores).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from zoo.errors import SettingError, UnknownNameError
from zoo.registry import suggest


def _signed_targets(scores, labels):  # -> [..., K] in {-1, +1}
    if scores.shape[-1] == 1:
        return (2 * labels[..., None] - 1).astype(scores.dtype)
    return 2 * jax.nn.one_hot(labels, scores.shape[-1], dtype=scores.dtype) - 1


def softmax_cross_entropy(logits, labels):
    if logits.shape[-1] < 2:
        raise SettingError("softmax_cross_entropy needs at least 2 logits per example; "
                         "use sigmoid_cross_entropy for a single binary score")
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def sigmoid_cross_entropy(logits, labels):
    targets = (_signed_targets(logits, labels) + 1) / 2
    return optax.sigmoid_binary_cross_entropy(logits, targets).sum(-1)


def hinge(scores, labels):
    return jax.nn.relu(1 - _signed_targets(scores, labels) * scores).sum(-1)


def perceptron(scores, labels):
    """Hinge at zero: its SGD step on a misclassified example is w += lr * y * x."""
    return jax.nn.relu(-_signed_targets(scores, labels) * scores).sum(-1)


def mse(predictions, targets):
    targets = targets.reshape(predictions.shape).astype(predictions.dtype)
    return jnp.mean((predictions - targets) ** 2, axis=-1)


LOSSES: dict[str, Callable] = {
    "softmax_cross_entropy": softmax_cross_entropy,
    "sigmoid_cross_entropy": sigmoid_cross_entropy,
    "hinge": hinge,
    "perceptron": perceptron,
    "mse": mse,
}
REGRESSION_LOSSES = {"mse"}


def get_loss(name: str) -> Callable:
    if name not in LOSSES:
        raise UnknownNameError(f"unknown loss {name!r}.{suggest(name, list(LOSSES))} Known: {', '.join(LOSSES)}")
    return LOSSES[name]
