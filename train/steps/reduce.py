"""Sums over the global batch: under jit the arrays are global already; under pmap the same sums are psums."""
from __future__ import annotations

from typing import Any

import jax


def global_sum(tree: Any, axis_name: str | None) -> Any:
    """`tree` summed over every device's share of the batch (a no-op under jit, where arrays are global)."""
    return tree if axis_name is None else jax.lax.psum(tree, axis_name)


def global_mean(total: Any, count: jax.Array, axis_name: str | None) -> Any:
    """sum over the global batch / global count, for a `total` and `count` summed on this device's share."""
    count = global_sum(count, axis_name)
    return jax.tree.map(lambda t: t / count, global_sum(total, axis_name))
