"""What a graph model predicts from its node vectors: one output per node, per graph, or per node pair.

* 'node':  Dense on each node's vector                          -> [N, num_classes]
* 'graph': a read-out (sum, mean, max, attention) per graph, then Dense -> [G, num_classes]
* 'link':  the Hadamard product h_u * h_v of each queried pair, then Dense -> [P, num_classes]

Link models take a `GraphPairs` (the graph messages pass over, plus the [P, 2] node pairs to score);
the others take a plain jraph.GraphsTuple. The output layer is always named 'head', which is what
transfer learning replaces.
"""
from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import jraph

from zoo.errors import InputShapeError
from zoo.graph.readout import read_out

LEVELS = ("node", "graph", "link")


class GraphPairs(NamedTuple):
    """Input of link prediction: message passing runs over `graph`; `pairs` [P, 2] are the (u, v) node
    indices to score. Pairs that are padding point at any node and are masked out of losses."""

    graph: jraph.GraphsTuple
    pairs: jax.Array


def graph_and_pairs(x, model: str, level: str) -> tuple[jraph.GraphsTuple, jax.Array | None]:
    """Split a model input into (graph, pairs) and check it suits `level`, naming the fix if not."""
    if level not in LEVELS:
        raise ValueError(f"{model}: unknown level {level!r}; use one of {', '.join(LEVELS)}")
    if isinstance(x, GraphPairs):
        if level != "link":
            raise InputShapeError(f"{model} predicts per {level} but got node pairs; pass the GraphsTuple alone, "
                                  "or build the model with level='link'")
        return x.graph, x.pairs
    if not isinstance(x, jraph.GraphsTuple):
        raise InputShapeError(f"{model} takes a jraph.GraphsTuple (nodes [N, F], senders/receivers [E], n_node [G]), "
                              f"got {type(x).__name__}; batch graphs with jraph.batch or zoo.graph.pad_batch")
    if level == "link":
        raise InputShapeError(f"{model} was built with level='link' and scores node pairs; pass "
                              "zoo.graph.GraphPairs(graph, pairs) with pairs [P, 2]")
    if x.nodes is None or jnp.ndim(x.nodes) != 2:
        raise InputShapeError(f"{model} needs node features [N, F]; got nodes of shape "
                              f"{None if x.nodes is None else jnp.shape(x.nodes)}. Give featureless graphs a "
                              "constant or one-hot-degree feature")
    return x, None


class PredictionHead(nn.Module):
    num_classes: int
    level: str = "graph"
    readout: str = "mean"

    @nn.compact
    def __call__(self, nodes: jax.Array, graph: jraph.GraphsTuple, pairs: jax.Array | None) -> jax.Array:
        if self.level == "graph":
            nodes = read_out(nodes, graph.n_node, self.readout)
        elif self.level == "link":
            nodes = nodes[pairs[:, 0]] * nodes[pairs[:, 1]]
        return nn.Dense(self.num_classes, name="head")(nodes).astype(jnp.float32)
