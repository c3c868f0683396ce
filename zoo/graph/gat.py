"""Graph attention (Velickovic et al. 2018), multi-head, as PyTorch Geometric's GATConv computes it.

Each head projects the nodes (z = x W), scores every edge j -> i (and each node's self-loop) by
LeakyReLU(a_src . z_j + a_dst . z_i), turns the scores into a softmax over the edges arriving at i, and
sums the senders' z with those weights. Heads are concatenated (or averaged), then `bias` is added.
The softmax per receiving node is jraph.segment_softmax, so padding edges (which jraph.pad_with_graphs
points at padding nodes) never enter a real node's softmax. Like GATConv, every node attends to itself exactly
once: loops the graph already has are masked out of the softmax (score -inf) and one loop per node is added.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from zoo.graph.self_loops import with_one_self_loop_per_node


class GATLayer(nn.Module):
    """One attention layer on a jraph.GraphsTuple's nodes [N, F] -> [N, heads * features] (concat) or
    [N, features] (concat=False). Attention dropout applies in training only (rng 'dropout')."""

    features: int  # per head
    heads: int = 1
    concat: bool = True
    negative_slope: float = 0.2
    attention_dropout: float = 0.0
    use_bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, graph: jraph.GraphsTuple, *, train: bool = False) -> jax.Array:
        num_nodes = graph.nodes.shape[0]
        z = nn.Dense(self.heads * self.features, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype,
                     name="linear")(graph.nodes).reshape(num_nodes, self.heads, self.features)  # [N, H, C]
        glorot = nn.initializers.glorot_uniform(in_axis=-1, out_axis=-2)
        att_src = self.param("att_src", glorot, (self.heads, self.features), self.param_dtype).astype(z.dtype)
        att_dst = self.param("att_dst", glorot, (self.heads, self.features), self.param_dtype).astype(z.dtype)
        senders, receivers, keep = with_one_self_loop_per_node(graph.senders, graph.receivers, num_nodes)
        scores = (z * att_src).sum(-1)[senders] + (z * att_dst).sum(-1)[receivers]  # [E + N, H]
        scores = nn.leaky_relu(scores.astype(jnp.float32), self.negative_slope)
        # exp(-inf) = 0 leaves the graph's own loops out; each node's added loop keeps its softmax finite.
        scores = jnp.where(keep[:, None], scores, -jnp.inf)
        weights = jraph.segment_softmax(scores, receivers, num_nodes)  # sums to 1 over each node's in-edges
        if self.attention_dropout:
            weights = nn.Dropout(self.attention_dropout, deterministic=not train)(weights)
        out = jraph.segment_sum(z[senders] * weights[..., None].astype(z.dtype), receivers, num_nodes)  # [N, H, C]
        out = out.reshape(num_nodes, -1) if self.concat else out.mean(axis=1)
        if self.use_bias:
            out = out + self.param("bias", nn.initializers.zeros, (out.shape[-1],), self.param_dtype).astype(out.dtype)
        return out
