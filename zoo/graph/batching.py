"""Many graphs -> one padded jraph.GraphsTuple whose shape comes from a small set of budgets.

`jax.jit` compiles once per input shape, and every batch of real graphs has its own node and edge
count. Padding to the next power of two (with jraph.pad_with_graphs, which adds one graph holding all
padding nodes and edges) bounds the number of shapes by log2 of the largest batch: an epoch of batches
whose sizes vary by tens of nodes compiles a handful of times instead of once per batch.

`stack_shards` packs D such batches with the same budgets along a new leading axis, so a data-parallel
step (jit over a Mesh or pmap) hands each device whole graphs with local node indices.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jraph
import numpy as np


def next_power_of_two(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def budgets(graphs: Sequence[jraph.GraphsTuple]) -> tuple[int, int]:
    """(nodes, edges) to pad a batch of `graphs` to: the next power of two above the totals.

    One node more than the real ones is always needed: jraph's padding graph holds at least one."""
    nodes = sum(int(np.sum(g.n_node)) for g in graphs)
    edges = sum(int(np.sum(g.n_edge)) for g in graphs)
    return next_power_of_two(nodes + 1), next_power_of_two(max(edges, 1))


def pad_batch(graphs: Sequence[jraph.GraphsTuple], n_graph: int, n_node: int | None = None,
              n_edge: int | None = None) -> jraph.GraphsTuple:
    """jraph.batch_np(graphs) padded to `n_graph` graphs and the node/edge budgets (default: `budgets`).

    The real graphs come first, in order; graph i of the result is graphs[i] for i < len(graphs)."""
    if not graphs:
        raise ValueError("pad_batch needs at least one graph")
    if n_graph <= len(graphs):
        raise ValueError(f"n_graph={n_graph} leaves no room for jraph's padding graph after {len(graphs)} graphs; "
                         f"use at least {len(graphs) + 1}")
    default_nodes, default_edges = budgets(graphs)
    return jraph.pad_with_graphs(jraph.batch_np(list(graphs)), n_node or default_nodes, n_edge or default_edges,
                                 n_graph)


def undirected_graph(nodes: np.ndarray, edges: np.ndarray) -> jraph.GraphsTuple:
    """One graph (numpy leaves) from node features [n, F] and undirected edges [e, 2], each edge listed once:
    jraph's edges are directed, so every edge is given in both directions (senders first, then reversed)."""
    edges = np.asarray(edges, np.int32).reshape(-1, 2)
    senders = np.concatenate([edges[:, 0], edges[:, 1]])
    receivers = np.concatenate([edges[:, 1], edges[:, 0]])
    return jraph.GraphsTuple(nodes=np.asarray(nodes, np.float32), edges=None, senders=senders, receivers=receivers,
                             n_node=np.array([len(nodes)], np.int32), n_edge=np.array([len(senders)], np.int32),
                             globals=None)


def stack_shards(shards: Sequence[jraph.GraphsTuple]) -> jraph.GraphsTuple:
    """Padded batches of equal shapes -> one GraphsTuple whose every leaf gains a leading shard axis."""
    return jax.tree.map(lambda *leaves: np.stack(leaves), *shards)

