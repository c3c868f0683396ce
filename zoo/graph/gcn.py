"""Graph convolution (Kipf & Welling 2017): H' = D^-1/2 (A + I) D^-1/2 H W + b, sparse and dense.

Edges run sender -> receiver (an undirected graph lists both directions, as jraph and PyTorch Geometric
do); a node aggregates what its in-edges send, plus itself through the self-loop I. Degrees count
in-edges and the self-loop. The sparse form gathers over the edge list and sums with jraph's
segment_sum, so its cost follows the number of edges; the dense form multiplies by the normalised
[N, N] adjacency, which is simpler and faster for small, dense graphs. Both give the same numbers.
Self-loops the graph already has are replaced by the one I adds, as PyTorch Geometric's GCNConv does
(add_remaining_self_loops): a node with two loops still counts itself once.
Padding added by jraph.pad_with_graphs touches padding nodes only, so real nodes are unaffected.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from zoo.graph.self_loops import self_loop_weights, with_one_self_loop_per_node


def gcn_propagation(x: jax.Array, senders: jax.Array, receivers: jax.Array, num_nodes: int,
                    edge_weight: jax.Array | None = None) -> jax.Array:
    """D^-1/2 (A + I) D^-1/2 x for an edge list: x [N, F], senders/receivers [E] -> [N, F].

    The graph's own self-loops give way to I; with `edge_weight`, a node that had a loop keeps that loop's
    weight on its diagonal instead of 1 (PyG's add_remaining_self_loops)."""
    if edge_weight is None:
        weight = jnp.ones(senders.shape[0], x.dtype)
        loop_weight = jnp.ones(num_nodes, x.dtype)
    else:
        weight = edge_weight.astype(x.dtype)
        loop_weight = self_loop_weights(senders, receivers, num_nodes, weight)
    senders, receivers, keep = with_one_self_loop_per_node(senders, receivers, num_nodes)
    weight = jnp.where(keep, jnp.concatenate([weight, loop_weight]), 0)  # masked, not removed: shapes stay static
    degree = jraph.segment_sum(weight, receivers, num_nodes)
    inv_sqrt = jnp.where(degree > 0, jax.lax.rsqrt(jnp.maximum(degree, 1e-12)), 0)
    norm = inv_sqrt[senders] * weight * inv_sqrt[receivers]  # [E + N]
    return jraph.segment_sum(x[senders] * norm[:, None], receivers, num_nodes)


def dense_gcn_propagation(x: jax.Array, adjacency: jax.Array) -> jax.Array:
    """The same with a dense adjacency [N, N], adjacency[r, s] = weight of the edge s -> r.

    A nonzero diagonal entry is the weight of a loop the node already has and stays as it is; a zero one
    becomes 1, so every node has exactly one self-loop (as the sparse form and PyG do)."""
    adjacency = adjacency.astype(x.dtype)
    a_hat = adjacency + jnp.diag((jnp.diagonal(adjacency) == 0).astype(x.dtype))
    inv_sqrt = jax.lax.rsqrt(a_hat.sum(axis=1))
    return (inv_sqrt[:, None] * a_hat * inv_sqrt[None, :]) @ x


class GCNLayer(nn.Module):
    """One graph convolution on a jraph.GraphsTuple's nodes [N, F] -> [N, features] (no activation).

    Like PyTorch Geometric's GCNConv: the linear map (`linear`, no bias) comes first, then the
    normalised aggregation, then `bias`. `dense=True` aggregates with the [N, N] adjacency instead."""

    features: int
    use_bias: bool = True
    dense: bool = False
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple) -> jax.Array:
        x = nn.Dense(self.features, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype,
                     name="linear")(graph.nodes)
        num_nodes = x.shape[0]
        if self.dense:
            # The graph's own loops are left out, so the diagonal holds the one self-loop that propagation adds.
            not_loop = (graph.senders != graph.receivers).astype(x.dtype)
            adjacency = jnp.zeros((num_nodes, num_nodes), x.dtype).at[graph.receivers, graph.senders].add(not_loop)
            x = dense_gcn_propagation(x, adjacency)
        else:
            x = gcn_propagation(x, graph.senders, graph.receivers, num_nodes)
        if self.use_bias:
            x = x + self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype).astype(x.dtype)
        return x
