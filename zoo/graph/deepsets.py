"""Deep Sets (Zaheer et al. 2017): f(X) = rho(aggregate_{x in X} phi(x)).

A set is a graph without edges: its elements are the nodes of one graph in a jraph.GraphsTuple, so a
batch of sets of different sizes pads and batches like any graphs. phi (the shared encoder) sees each
element alone; the aggregation (sum, mean, max, or attention) is order-invariant; rho (the decoder MLP)
sees only the aggregate, so the output cannot depend on the elements' order. Edges, if any, are ignored.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from zoo.graph.head import graph_and_pairs
from zoo.graph.readout import read_out


class DeepSets(nn.Module):
    num_classes: int = 2
    encoder: Sequence[int] = (64, 64)  # phi
    decoder: Sequence[int] = (64,)  # rho, before the output layer 'head'
    readout: str = "sum"
    dropout: float = 0.0
    level: str = "graph"  # sets are read out whole; there is no per-element or pair output

    @nn.compact
    def __call__(self, x, *, train: bool = False) -> jax.Array:
        if self.level != "graph":
            raise ValueError(f"deepsets reads each set out whole (level='graph'), not per {self.level}; "
                             "use gcn, gat or mpnn for node or link tasks")
        graph, _ = graph_and_pairs(x, "deepsets", self.level)
        h = graph.nodes
        for i, width in enumerate(self.encoder):
            h = nn.relu(nn.Dense(width, name=f"phi_{i}")(h))
        h = read_out(h, graph.n_node, self.readout)
        for i, width in enumerate(self.decoder):
            h = nn.Dropout(self.dropout, deterministic=not train)(h)
            h = nn.relu(nn.Dense(width, name=f"rho_{i}")(h))
        return nn.Dense(self.num_classes, name="head")(h)
