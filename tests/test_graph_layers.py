"""Graph layers on jraph: GCN sparse and dense agree; batching and padding change no real node's output
(GCN, GAT); jraph works on current JAX through zoo.graph's shim."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

jraph = pytest.importorskip("jraph")
nx = pytest.importorskip("networkx")

from rounding import assert_equal_up_to_rounding  # noqa: E402
from zoo.graph import AttentionReadout, GATLayer, GCNLayer, dense_gcn_propagation, gcn_propagation, pool  # noqa: E402


def graph_from_networkx(g, features: int, seed: int) -> jraph.GraphsTuple:
    edges = np.array([(u, v) for u, v in g.edges] + [(v, u) for u, v in g.edges], np.int32).reshape(-1, 2)
    nodes = np.random.default_rng(seed).normal(size=(g.number_of_nodes(), features)).astype(np.float32)
    return jraph.GraphsTuple(nodes=jnp.asarray(nodes), edges=None, senders=jnp.asarray(edges[:, 0]),
                             receivers=jnp.asarray(edges[:, 1]), n_node=jnp.array([len(nodes)]),
                             n_edge=jnp.array([len(edges)]), globals=None)


def test_propagation_is_the_normalised_adjacency_with_self_loops():
    g = nx.karate_club_graph()
    graph = graph_from_networkx(g, 3, seed=0)
    adjacency = nx.to_numpy_array(g, weight=None) + np.eye(34)  # A + I
    inv_sqrt = 1 / np.sqrt(adjacency.sum(1))
    want = (inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]) @ np.asarray(graph.nodes)
    got = gcn_propagation(graph.nodes, graph.senders, graph.receivers, 34)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
    np.testing.assert_allclose(np.asarray(dense_gcn_propagation(graph.nodes, jnp.asarray(adjacency - np.eye(34)))),
                               want, atol=1e-5)


def test_sparse_and_dense_layers_give_the_same_output():
    graph = graph_from_networkx(nx.gnp_random_graph(20, 0.2, seed=1), 5, seed=1)
    sparse, dense = GCNLayer(7), GCNLayer(7, dense=True)
    variables = sparse.init(jax.random.key(0), graph)
    variables = {"params": {**variables["params"], "bias": jnp.linspace(-1, 1, 7)}}
    # Two programs for the same sums: the dense product adds all 20 nodes (most times zero) where the sparse one
    # adds the neighbours; then 5 feature products.
    assert_equal_up_to_rounding(sparse.apply(variables, graph), dense.apply(variables, graph), terms=20 + 5 + 4)


@pytest.mark.parametrize("layer", [GCNLayer(6), GATLayer(3, heads=2)], ids=["gcn", "gat"])
def test_batching_and_padding_leave_real_nodes_unchanged(layer):
    graphs = [graph_from_networkx(nx.path_graph(n), 4, seed=n) for n in (3, 5, 2)]
    variables = layer.init(jax.random.key(0), graphs[0])
    alone = np.concatenate([np.asarray(layer.apply(variables, g)) for g in graphs])
    padded = jraph.pad_with_graphs(jraph.batch(graphs), n_node=16, n_edge=32, n_graph=4)
    out = np.asarray(layer.apply(variables, padded))
    mask = np.asarray(jraph.get_node_padding_mask(padded))
    # Another graph size is another program: equal up to rounding. A node sums 4 feature products per head and
    # up to 2 neighbours plus itself, through a normalisation or a softmax: a few dozen roundings at most.
    assert_equal_up_to_rounding(out[mask], alone, terms=32)


def test_jraph_utilities_that_call_removed_jax_names_work():
    padded = jraph.pad_with_graphs(jraph.batch([graph_from_networkx(nx.path_graph(3), 2, seed=0)]), 6, 8, 2)
    zeroed = jraph.zero_out_padding(padded._replace(nodes=padded.nodes + 1.0))  # calls jax.tree_map
    assert float(jnp.abs(zeroed.nodes[3:]).sum()) == 0 and float(zeroed.nodes[:3].min()) != 0
    assert not hasattr(jax, "tree_map") or jax.tree_map is jax.tree.map  # the global module is left alone


def test_gat_attention_dropout_only_in_training():
    graph = graph_from_networkx(nx.karate_club_graph(), 4, seed=2)
    layer = GATLayer(3, heads=2, attention_dropout=0.5)
    variables = layer.init(jax.random.key(0), graph)
    np.testing.assert_array_equal(np.asarray(layer.apply(variables, graph)), np.asarray(layer.apply(variables, graph)))
    a, b = (layer.apply(variables, graph, train=True, rngs={"dropout": jax.random.key(k)}) for k in (1, 2))
    assert not np.allclose(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("how", ["sum", "mean", "max"])
def test_readouts_pool_each_graph_alone_and_ignore_padding(how):
    graphs = [graph_from_networkx(nx.path_graph(n), 3, seed=n) for n in (4, 1, 6)]
    padded = jraph.pad_with_graphs(jraph.batch(graphs), n_node=16, n_edge=32, n_graph=5)
    reduce = {"sum": np.sum, "mean": np.mean, "max": np.max}[how]
    want = np.stack([reduce(np.asarray(g.nodes), axis=0) for g in graphs])
    got = np.asarray(pool(padded.nodes, padded.n_node, how))
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got[:3], want, atol=1e-6)
    shuffled = np.random.default_rng(0).permutation(4)  # order inside a graph does not matter
    nodes = np.asarray(padded.nodes).copy()
    nodes[:4] = nodes[shuffled]
    np.testing.assert_allclose(np.asarray(pool(jnp.asarray(nodes), padded.n_node, how))[:3], want, atol=1e-6)
    with pytest.raises(ValueError, match="use one of"):
        pool(padded.nodes, padded.n_node, "median")


def test_attention_readout_is_a_convex_combination_per_graph():
    graphs = [graph_from_networkx(nx.path_graph(n), 2, seed=n) for n in (3, 5)]
    padded = jraph.pad_with_graphs(jraph.batch(graphs), n_node=10, n_edge=20, n_graph=3)
    readout = AttentionReadout()
    variables = readout.init(jax.random.key(0), padded.nodes, padded.n_node)
    out = np.asarray(readout.apply(variables, padded.nodes, padded.n_node))
    for i, g in enumerate(graphs):  # inside the per-graph bounding box of its nodes
        nodes = np.asarray(g.nodes)
        assert (out[i] >= nodes.min(0) - 1e-6).all() and (out[i] <= nodes.max(0) + 1e-6).all()
    alone = np.asarray(readout.apply(variables, graphs[1].nodes, graphs[1].n_node))[0]
    # One graph alone is another program: a softmax over its 5 nodes' 2-feature scores, then their weighted sum.
    assert_equal_up_to_rounding(out[1], alone, terms=16)
