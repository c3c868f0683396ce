"""Sources of graph examples: whole graphs, the nodes of one graph, or node pairs of one graph.

Every source's `collate(indices, shards, capacity, rng)` builds a batch whose arrays carry a leading
shard axis (see train.steps.shards): D padded GraphsTuples of equal shapes, targets and a mask [D, ...]
that is 0 on padding. `capacity` is the batch size a full batch holds, so a short last batch pads to
the same shapes as the others; node and edge budgets are powers of two (zoo.graph.batching), which
keeps the number of compiled shapes small.

* GraphSource: one example per graph (graph classification).
* NodeSource: one example per labelled node of one graph (transductive node classification); every
  shard holds the whole graph and a share of the batch's nodes in its mask.
* LinkSource: one example per (u, v) pair of one graph, label 1 for an edge and 0 for a non-edge; the
  training split draws fresh negative pairs for every batch (negative sampling).
"""
from __future__ import annotations

import dataclasses

import jax
import jraph
import numpy as np

from zoo.errors import SettingError
from zoo.graph.batching import budgets, pad_batch, stack_shards
from zoo.graph.head import GraphPairs


def _check_shards(capacity: int, shards: int) -> int:
    if capacity % shards:
        raise SettingError(f"batch size {capacity} does not divide into {shards} device shards; use a multiple of "
                         f"{shards}")
    return capacity // shards


@dataclasses.dataclass
class GraphSource:
    graphs: list  # single jraph.GraphsTuples with numpy leaves
    labels: np.ndarray  # [n] int

    def __len__(self) -> int:
        return len(self.graphs)

    def subset(self, indices) -> "GraphSource":
        return GraphSource([self.graphs[i] for i in indices], self.labels[np.asarray(indices)])

    def take(self, indices):
        """(one padded GraphsTuple of these graphs, their labels padded to its graph count)."""
        batch = self.collate(indices, 1, len(indices))
        return jax.tree.map(lambda v: v[0], batch["x"]), batch["y"][0]

    def collate(self, indices, shards: int, capacity: int, rng=None) -> dict:
        del rng
        per_shard = _check_shards(capacity, shards)
        chunks = [list(c) for c in np.array_split(np.asarray(indices), shards)]
        # A shard of a short last batch can be empty: it holds one masked-out stand-in graph.
        groups = [[self.graphs[i] for i in chunk] or [self.graphs[0]] for chunk in chunks]
        sizes = [budgets(members) for members in groups]
        n_node, n_edge = max(s[0] for s in sizes), max(s[1] for s in sizes)
        padded, ys, masks = [], [], []
        for chunk, members in zip(chunks, groups):
            padded.append(pad_batch(members, per_shard + 1, n_node, n_edge))
            y = np.zeros(per_shard + 1, self.labels.dtype)
            y[:len(chunk)] = self.labels[chunk]
            mask = np.zeros(per_shard + 1, np.float32)
            mask[:len(chunk)] = 1
            ys.append(y)
            masks.append(mask)
        return {"x": stack_shards(padded), "y": np.stack(ys), "mask": np.stack(masks)}


def sample_non_edges(num_nodes: int, known, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct node pairs (u, v), u < v, uniformly among those not in `known` (pairs with u < v),
    by rejection: fine while edges are a small share of all pairs, as in the graphs served here."""
    found: dict[tuple[int, int], None] = {}  # insertion-ordered: the draw order is the result's order
    while len(found) < count:
        u, v = sorted(rng.choice(num_nodes, 2, replace=False).tolist())
        if (u, v) not in known:
            found[u, v] = None
    return np.array(list(found), np.int32).reshape(-1, 2)


@dataclasses.dataclass
class NodeSource:
    graph: jraph.GraphsTuple  # one graph, numpy leaves
    labels: np.ndarray  # [num_nodes] int, for every node (only `nodes` are read)
    nodes: np.ndarray  # the examples: indices of this split's labelled nodes

    def __post_init__(self):
        self.padded = pad_batch([self.graph], 2)
        self.padded_labels = np.zeros(self.padded.nodes.shape[0], self.labels.dtype)
        self.padded_labels[:len(self.labels)] = self.labels

    def __len__(self) -> int:
        return len(self.nodes)

    def subset(self, indices) -> "NodeSource":
        return NodeSource(self.graph, self.labels, self.nodes[np.asarray(indices)])

    def take(self, indices):
        return self.padded, self.padded_labels

    def collate(self, indices, shards: int, capacity: int, rng=None) -> dict:
        del rng
        _check_shards(capacity, shards)
        masks = np.zeros((shards, len(self.padded_labels)), np.float32)
        for shard, chunk in enumerate(np.array_split(self.nodes[np.asarray(indices)], shards)):
            masks[shard, chunk] = 1
        return {"x": stack_shards([self.padded] * shards), "y": np.stack([self.padded_labels] * shards),
                "mask": masks}


@dataclasses.dataclass
class LinkSource:
    graph: jraph.GraphsTuple  # the graph messages pass over (training edges only), numpy leaves
    pairs: np.ndarray  # [n, 2] the examples
    labels: np.ndarray  # [n] 1 = edge, 0 = non-edge
    # Training: for every example, this many random node pairs that are not edges of `known_edges`
    # join the batch with label 0.
    negatives_per_example: int = 0
    known_edges: frozenset = frozenset()  # (u, v) with u < v: never drawn as negatives

    def __post_init__(self):
        self.padded = pad_batch([self.graph], 2)

    def __len__(self) -> int:
        return len(self.pairs)

    def subset(self, indices) -> "LinkSource":
        indices = np.asarray(indices)
        return dataclasses.replace(self, pairs=self.pairs[indices], labels=self.labels[indices])

    def take(self, indices):
        return GraphPairs(self.padded, self.pairs[indices].astype(np.int32)), self.labels[indices]

    def collate(self, indices, shards: int, capacity: int, rng=None) -> dict:
        indices = np.asarray(indices)
        pairs, labels = self.pairs[indices], self.labels[indices]
        if self.negatives_per_example:
            rng = rng if rng is not None else np.random.default_rng(0)
            negatives = sample_non_edges(int(self.graph.n_node[0]), self.known_edges,
                                         len(indices) * self.negatives_per_example, rng)
            pairs = np.concatenate([pairs, negatives])
            labels = np.concatenate([labels, np.zeros(len(negatives), labels.dtype)])
        per_shard = _check_shards(capacity * (1 + self.negatives_per_example), shards)
        shard_pairs = np.zeros((shards, per_shard, 2), np.int32)
        ys = np.zeros((shards, per_shard), labels.dtype)
        masks = np.zeros((shards, per_shard), np.float32)
        for shard, chunk in enumerate(np.array_split(np.arange(len(pairs)), shards)):
            shard_pairs[shard, :len(chunk)] = pairs[chunk]
            ys[shard, :len(chunk)] = labels[chunk]
            masks[shard, :len(chunk)] = 1
        graphs = stack_shards([self.padded] * shards)
        return {"x": GraphPairs(graphs, shard_pairs), "y": ys, "mask": masks}
