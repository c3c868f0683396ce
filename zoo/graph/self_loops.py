"""Self-loops as PyTorch Geometric adds them: exactly one i -> i per node, whatever loops the graph had.

GCN's A + I and GAT's attention both want one self-loop per node. PyG's GCNConv (add_remaining_self_loops)
and GATConv (remove_self_loops, then add_self_loops) both drop the loops a graph already has and add one per
node; GCNConv with edge weights keeps the weight of the loop a node had. Under jit the edge count must stay
static, so the graph's own loops are not removed but masked out (`keep` is False for them). jraph's padding
edges are loops on a padding node, so they are masked too, and touch padding nodes only either way.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def with_one_self_loop_per_node(senders, receivers, num_nodes: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """senders, receivers [E] -> senders, receivers [E + N] int32 and keep [E + N] bool.

    The edges come first, then i -> i for every node i. `keep` is False for the graph's own self-loops,
    which the caller must leave out (weight 0, score -inf): the added loop replaces them."""
    senders, receivers = jnp.asarray(senders, jnp.int32), jnp.asarray(receivers, jnp.int32)
    nodes = jnp.arange(num_nodes, dtype=jnp.int32)
    keep = jnp.concatenate([senders != receivers, jnp.ones(num_nodes, bool)])
    return jnp.concatenate([senders, nodes]), jnp.concatenate([receivers, nodes]), keep


def self_loop_weights(senders, receivers, num_nodes: int, edge_weight: jax.Array,
                      fill_value: float = 1.0) -> jax.Array:
    """[N] weight of each node's added loop: the weight of the loop it already had, else `fill_value`.

    A node with several loops keeps the weight of the last one, as PyG's indexed assignment leaves it."""
    if edge_weight.shape[0] == 0:  # nothing to look up (and gathering from an empty array fails)
        return jnp.full(num_nodes, fill_value, edge_weight.dtype)
    edge_ids = jnp.arange(edge_weight.shape[0], dtype=jnp.int32)
    is_loop = jnp.asarray(senders) == jnp.asarray(receivers)
    last_loop = jax.ops.segment_max(jnp.where(is_loop, edge_ids, -1), jnp.asarray(receivers, jnp.int32), num_nodes)
    return jnp.where(last_loop >= 0, edge_weight[jnp.maximum(last_loop, 0)], jnp.asarray(fill_value, edge_weight.dtype))
