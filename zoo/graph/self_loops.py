"""Self-loops, the edge every node sends itself in GCN's A + I and in GAT's attention."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def with_self_loops(senders, receivers, num_nodes: int) -> tuple[jax.Array, jax.Array]:
    """senders, receivers [E] -> [E + N] int32: the edges, then i -> i for every node i."""
    nodes = jnp.arange(num_nodes, dtype=jnp.int32)
    return (jnp.concatenate([jnp.asarray(senders, jnp.int32), nodes]),
            jnp.concatenate([jnp.asarray(receivers, jnp.int32), nodes]))
