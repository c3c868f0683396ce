"""Stacked GCN and GAT networks (Kipf & Welling 2017; Velickovic et al. 2018) with a node, graph or
link head (zoo.graph.head). Dropout precedes every layer, as in both papers' reference code."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from zoo.graph.gat import GATLayer
from zoo.graph.gcn import GCNLayer
from zoo.graph.head import PredictionHead, graph_and_pairs


class GCN(nn.Module):
    """GCN layers of widths `hidden` with ReLU, then the head. `dense=True` aggregates through the
    [N, N] adjacency (gcn_dense): same numbers, cost quadratic in the nodes of a batch."""

    num_classes: int = 2
    hidden: Sequence[int] = (32, 32)
    dropout: float = 0.5
    level: str = "graph"
    readout: str = "mean"
    dense: bool = False

    @nn.compact
    def __call__(self, x, *, train: bool = False) -> jax.Array:
        graph, pairs = graph_and_pairs(x, "gcn_dense" if self.dense else "gcn", self.level)
        h = graph.nodes
        for i, width in enumerate(self.hidden):
            h = nn.Dropout(self.dropout, deterministic=not train)(h)
            h = nn.relu(GCNLayer(width, dense=self.dense, name=f"conv_{i}")(graph._replace(nodes=h)))
        return PredictionHead(self.num_classes, self.level, self.readout, name="predict")(h, graph, pairs)


class GAT(nn.Module):
    """GAT layers with `heads` heads of `hidden` features each (concatenated) and ELU, then the head."""

    num_classes: int = 2
    hidden: Sequence[int] = (8, 8)
    heads: int = 8
    dropout: float = 0.6
    attention_dropout: float = 0.6
    level: str = "graph"
    readout: str = "mean"

    @nn.compact
    def __call__(self, x, *, train: bool = False) -> jax.Array:
        graph, pairs = graph_and_pairs(x, "gat", self.level)
        h = graph.nodes
        for i, width in enumerate(self.hidden):
            h = nn.Dropout(self.dropout, deterministic=not train)(h)
            layer = GATLayer(width, heads=self.heads, attention_dropout=self.attention_dropout, name=f"conv_{i}")
            h = nn.elu(layer(graph._replace(nodes=h), train=train))
        return PredictionHead(self.num_classes, self.level, self.readout, name="predict")(h, graph, pairs)
