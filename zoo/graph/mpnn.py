"""A general message-passing block (Gilmer et al. 2017; Battaglia et al. 2018's graph network), as
rounds of jraph.GraphNetwork with Flax MLPs:

    message  m_uv = MLP([e_uv, h_u, h_v])           (edge update, per edge u -> v)
    update   h_v <- h_v + MLP([h_v, agg_{u->v} m_uv]) (node update; agg = sum, mean or max)
    edges    e_uv <- m_uv                           (when the graph has edge features)

Nodes (and edges, if present) are first embedded to `hidden` features; the residual node update keeps
deep stacks trainable. Graphs without edge features pass messages from node pairs alone.
"""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from zoo.graph.head import PredictionHead, graph_and_pairs

AGGREGATIONS: dict[str, Callable] = {
    "sum": jraph.segment_sum,
    "mean": jraph.segment_mean,
    "max": jraph.segment_max_or_constant,  # 0, not -inf, for a node nothing is sent to
}


class MLP(nn.Module):
    hidden: int
    layers: int = 2

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i in range(self.layers):
            x = nn.Dense(self.hidden, name=f"dense_{i}")(x)
            x = nn.relu(x) if i < self.layers - 1 else x
        return x


def _concat(*parts):
    return jnp.concatenate([p for p in parts if p is not None], axis=-1)


class MPNN(nn.Module):
    num_classes: int = 2
    hidden: int = 64
    steps: int = 3  # rounds of message passing (each with its own weights)
    aggregation: str = "sum"
    dropout: float = 0.0
    level: str = "graph"
    readout: str = "sum"

    @nn.compact
    def __call__(self, x, *, train: bool = False) -> jax.Array:
        graph, pairs = graph_and_pairs(x, "mpnn", self.level)
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}; use one of {', '.join(AGGREGATIONS)}")
        h = nn.Dense(self.hidden, name="embed_nodes")(graph.nodes)
        e = None if graph.edges is None else nn.Dense(self.hidden, name="embed_edges")(graph.edges)
        for t in range(self.steps):
            message, update = MLP(self.hidden, name=f"message_{t}"), MLP(self.hidden, name=f"update_{t}")
            block = jraph.GraphNetwork(
                update_edge_fn=lambda edges, sent, received, _: message(_concat(edges, sent, received)),
                update_node_fn=lambda nodes, _, received, __: update(_concat(nodes, received)),
                aggregate_edges_for_nodes_fn=AGGREGATIONS[self.aggregation])
            out = block(graph._replace(nodes=h, edges=e, globals=None))
            h = h + nn.Dropout(self.dropout, deterministic=not train)(out.nodes)
            e = out.edges if e is not None else None
        return PredictionHead(self.num_classes, self.level, self.readout, name="predict")(h, graph, pairs)
