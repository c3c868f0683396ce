"""Read-outs: node features [N, F] of a batch of graphs -> one vector per graph [G, F].

Nodes belong to graphs in order (jraph.batch concatenates them); `node_graph_ids` recovers each node's
graph from `n_node`. Every read-out is order-invariant within a graph. Padding graphs added by
jraph.pad_with_graphs hold only padding nodes, so real graphs' vectors never see padding; a graph with no
nodes reads out zeros.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

READOUTS = ("sum", "mean", "max", "attention")


def node_graph_ids(n_node: jax.Array, total_nodes: int) -> jax.Array:
    """[N] the index of the graph each node belongs to."""
    return jnp.repeat(jnp.arange(n_node.shape[0]), n_node, total_repeat_length=total_nodes)


def pool(nodes: jax.Array, n_node: jax.Array, how: str) -> jax.Array:
    """'sum' | 'mean' | 'max' over each graph's nodes: [N, F] -> [G, F]."""
    graphs = n_node.shape[0]
    ids = node_graph_ids(n_node, nodes.shape[0])
    if how == "sum":
        return jraph.segment_sum(nodes, ids, graphs)
    if how == "mean":
        return jraph.segment_mean(nodes, ids, graphs)
    if how == "max":
        return jraph.segment_max_or_constant(nodes, ids, graphs)  # 0 for a graph without nodes
    raise ValueError(f"unknown read-out {how!r}; use one of {', '.join(READOUTS)}")


def read_out(nodes: jax.Array, n_node: jax.Array, how: str) -> jax.Array:
    """Any of READOUTS: [N, F] -> [G, F]. Call it from a compact method: 'attention' adds its parameters
    there, as a submodule named 'readout'."""
    if how == "attention":
        return AttentionReadout(name="readout")(nodes, n_node)
    return pool(nodes, n_node, how)


class AttentionReadout(nn.Module):
    """A score per node (Dense to 1), softmax over each graph's nodes, weighted sum of the nodes."""

    @nn.compact
    def __call__(self, nodes: jax.Array, n_node: jax.Array) -> jax.Array:
        graphs = n_node.shape[0]
        ids = node_graph_ids(n_node, nodes.shape[0])
        scores = nn.Dense(1, name="score")(nodes)[:, 0].astype(jnp.float32)  # [N]
        weights = jraph.segment_softmax(scores, ids, graphs)
        return jraph.segment_sum(nodes * weights[:, None].astype(nodes.dtype), ids, graphs)
