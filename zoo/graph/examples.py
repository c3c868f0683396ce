"""Random padded graphs: the graph family's `example` hook (tests, parameter counts)."""
from __future__ import annotations

import numpy as np

from zoo.graph.batching import pad_batch, undirected_graph


def random_graphs(count: int, features: int, seed: int = 0):
    """`count` random undirected graphs of 2-7 nodes with normal node features, padded into one GraphsTuple
    (jraph's padding graph last)."""
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(count):
        n = int(rng.integers(2, 8))
        pairs = [(u, v) for u in range(n) for v in range(u + 1, n) if rng.random() < 0.5] or [(0, 1)]
        graphs.append(undirected_graph(rng.normal(size=(n, features)), np.array(pairs)))
    return pad_batch(graphs, count + 1)


def graph_inputs(card, batch_size: int, seed: int = 0):
    """`batch_size` random graphs with the card's node features, padded into one GraphsTuple."""
    return random_graphs(batch_size, card.example_input_shape[0], seed), {}
