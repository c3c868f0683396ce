"""Graph data sets built from networkx's real graphs, one per kind of graph task.

* karate: Zachary's karate club (34 members, 78 friendships); which of the two clubs each member joined
  after the split. Semi-supervised as in Kipf & Welling (2017): only the two leaders (members 0 and 33)
  are labelled for training, the other 32 are the test set. Features: one-hot member id (featureless).
* graph_atlas: every graph of "An Atlas of Graphs" (networkx.graph_atlas_g(): all 1,252 non-empty graphs
  with up to 7 nodes), labelled by a graph property (default: connected); node features are one-hot
  degrees, so an MLP on the degree histogram (the sum of those features; graph_atlas_PROPERTY_degrees) is
  the natural non-graph baseline: it sees what a graph network sees except the edges.
* les_miserables_links: link prediction on the co-appearance network of Les Miserables (77 characters,
  254 edges); 20% of the edges are held out for test and 10% for validation, each with as many sampled
  non-edges; messages pass over the training edges only; training draws fresh negatives every batch.
"""
from __future__ import annotations

from typing import Callable

import jraph
import numpy as np

from train.data.graph_sources import GraphSource, LinkSource, NodeSource, sample_non_edges
from train.data.sources import ArraySource, Dataset
from zoo.errors import SettingError
from zoo.graph.batching import undirected_graph


def to_graphs_tuple(graph, features: np.ndarray) -> jraph.GraphsTuple:
    """A networkx graph -> a single jraph.GraphsTuple (numpy), each undirected edge in both directions."""
    index = {node: i for i, node in enumerate(graph.nodes())}
    return undirected_graph(features, [(index[u], index[v]) for u, v in graph.edges() if u != v])


def karate() -> Dataset:
    import networkx as nx

    graph = nx.karate_club_graph()
    labels = np.array([0 if graph.nodes[n]["club"] == "Mr. Hi" else 1 for n in graph.nodes()], np.int32)
    data = to_graphs_tuple(graph, np.eye(graph.number_of_nodes()))
    leaders = np.array([0, 33])
    others = np.setdiff1d(np.arange(graph.number_of_nodes()), leaders)
    return Dataset("karate", {"train": NodeSource(data, labels, leaders), "test": NodeSource(data, labels, others)},
                   "graph", 2, (graph.number_of_nodes(),), class_names=["Mr. Hi", "Officer"],
                   description="Zachary's karate club: node classification from the two leaders' labels",
                   graph_level="node", fixed_splits=True)


MAX_ATLAS_DEGREE = 6  # graphs of at most 7 nodes


def _has_triangle(graph) -> bool:
    import networkx as nx

    return any(nx.triangles(graph).values())


ATLAS_PROPERTIES = ("connected", "bipartite", "forest", "triangle", "eulerian")  # forest: no cycle


def _atlas_property(prop: str) -> Callable:
    """The test of `prop`: networkx's is_PROP, or the triangle test networkx lacks."""
    import networkx as nx

    if prop not in ATLAS_PROPERTIES:
        raise SettingError(f"unknown graph property {prop!r}; use one of {', '.join(ATLAS_PROPERTIES)}")
    return _has_triangle if prop == "triangle" else getattr(nx, f"is_{prop}")


DEFAULT_ATLAS_PROPERTY = "connected"


def graph_atlas(prop: str = DEFAULT_ATLAS_PROPERTY, degree_histogram: bool = False) -> Dataset:
    """The atlas labelled 'is `prop`'; with `degree_histogram`, each graph is only its count of nodes of
    degree 0..6 (float features for an MLP: the non-graph baseline), on the same splits."""
    import networkx as nx

    test_fraction = 0.2
    has_property = _atlas_property(prop)
    graphs, labels = [], []
    for graph in nx.graph_atlas_g():
        if graph.number_of_nodes() == 0:
            continue  # the null graph has no nodes to classify from, and most properties are undefined on it
        degrees = np.array([d for _, d in graph.degree()])
        graphs.append(to_graphs_tuple(graph, np.eye(MAX_ATLAS_DEGREE + 1)[degrees]))
        labels.append(int(has_property(graph)))
    labels = np.array(labels, np.int32)
    order = np.random.default_rng(0).permutation(len(graphs))  # fixed test split, whatever the run's seed
    n_test = int(round(len(graphs) * test_fraction))
    train, test = np.sort(order[n_test:]), np.sort(order[:n_test])
    description = f"networkx graph atlas (1,252 graphs, <= 7 nodes) labelled 'is {prop}'"
    if degree_histogram:
        histograms = np.stack([g.nodes.sum(axis=0) for g in graphs])
        splits = {"train": ArraySource(histograms[train], labels[train]),
                  "test": ArraySource(histograms[test], labels[test])}
        return Dataset(f"graph_atlas_{prop}_degrees", splits, "classification", 2, (MAX_ATLAS_DEGREE + 1,),
                       class_names=[f"not {prop}", prop], description=description + ", as degree histograms")
    source = GraphSource(graphs, labels)
    return Dataset(f"graph_atlas_{prop}", {"train": source.subset(train), "test": source.subset(test)},
                   "graph", 2, (MAX_ATLAS_DEGREE + 1,), class_names=[f"not {prop}", prop],
                   description=description, graph_level="graph")


def les_miserables_links(val_fraction: float = 0.1, test_fraction: float = 0.2) -> Dataset:
    import networkx as nx

    graph = nx.les_miserables_graph()
    num_nodes = graph.number_of_nodes()
    index = {node: i for i, node in enumerate(graph.nodes())}
    edges = np.array(sorted(tuple(sorted((index[u], index[v]))) for u, v in graph.edges()), np.int32)
    rng = np.random.default_rng(0)  # a fixed split, like a published benchmark's
    order = rng.permutation(len(edges))
    n_test, n_val = int(round(len(edges) * test_fraction)), int(round(len(edges) * val_fraction))
    test, val, train = (edges[order[:n_test]], edges[order[n_test:n_test + n_val]],
                        edges[order[n_test + n_val:]])
    all_edges = {tuple(e) for e in edges.tolist()}
    held_out_negatives = sample_non_edges(num_nodes, all_edges, n_test + n_val, rng)
    message_graph = nx.Graph()
    message_graph.add_nodes_from(range(num_nodes))
    message_graph.add_edges_from(train.tolist())
    data = to_graphs_tuple(message_graph, np.eye(num_nodes))

    def labelled(positives, negatives):
        pairs = np.concatenate([positives, negatives])
        labels = np.concatenate([np.ones(len(positives), np.int32), np.zeros(len(negatives), np.int32)])
        return LinkSource(data, pairs, labels)

    splits = {
        "train": LinkSource(data, train, np.ones(len(train), np.int32), negatives_per_example=1,
                            known_edges=frozenset(tuple(e) for e in train.tolist())),
        "validation": labelled(val, held_out_negatives[n_test:]),
        "test": labelled(test, held_out_negatives[:n_test]),
    }
    return Dataset("les_miserables_links", splits, "graph", 2, (num_nodes,),
                   class_names=["non-edge", "edge"],
                   description="Les Miserables co-appearances: link prediction, negative sampling, ROC-AUC",
                   graph_level="link", fixed_splits=True)
