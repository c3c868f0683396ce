"""BatchNorm statistics across devices.

Under pmap each device normalises with its own slice's statistics unless the model averages them over the
pmap axis (the parallel strategy gives models a `bn_axis_name`, see train.parallel); the running averages a
step writes are then averaged too, so every replica keeps the same ones. Under jit the batch is global and
nothing needs doing."""
from __future__ import annotations

from typing import Any

import jax


def sync_model_state(model_state: Any, axis_name: str | None) -> Any:
    """Mutable collections written by a training step, made identical on every device."""
    if axis_name is None or not model_state:
        return model_state
    return jax.lax.pmean(model_state, axis_name)
