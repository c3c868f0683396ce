"""Graph layers against PyTorch Geometric with the same weights on the same graph."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pyg_nn = pytest.importorskip("torch_geometric.nn")
nx = pytest.importorskip("networkx")
jraph = pytest.importorskip("jraph")

from zoo.graph import GATLayer, GCNLayer, gcn_propagation  # noqa: E402

pytestmark = pytest.mark.parity


def karate(features: int):
    g = nx.karate_club_graph()
    edges = np.array([(u, v) for u, v in g.edges] + [(v, u) for u, v in g.edges], np.int64)
    x = np.random.default_rng(0).normal(size=(g.number_of_nodes(), features)).astype(np.float32)
    return both_forms(x, edges)


def both_forms(x: np.ndarray, edges: np.ndarray):
    """Node features [N, F] and directed edges [E, 2] -> (jraph graph, PyG x, PyG edge_index)."""
    graph = jraph.GraphsTuple(nodes=jnp.asarray(x), edges=None, senders=jnp.asarray(edges[:, 0], jnp.int32),
                              receivers=jnp.asarray(edges[:, 1], jnp.int32), n_node=jnp.array([len(x)]),
                              n_edge=jnp.array([len(edges)]), globals=None)
    return graph, torch.from_numpy(x), torch.from_numpy(edges.T.copy())


LOOPED = (3, 8, 11, 11)  # nodes that already have a self-loop; node 11 has two


def graph_with_self_loops(features: int):
    """A random directed graph on 15 nodes with self-loops on nodes 3 and 8 and two on node 11, shuffled among
    the other edges so no code can rely on where they sit. Node 14 has no in-edge at all."""
    rng = np.random.default_rng(2)
    pairs = rng.integers(0, 14, size=(60, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]  # the only loops are the chosen ones
    edges = rng.permutation(np.concatenate([pairs, np.repeat(np.array(LOOPED)[:, None], 2, axis=1)]))
    x = rng.normal(size=(15, features)).astype(np.float32)
    return both_forms(x, edges.astype(np.int64))


def padded(graph, extra_nodes: int = 5, extra_edges: int = 7):
    """jraph's padding: one more graph holding padding nodes and edges (the edges are loops on a padding node)."""
    return jraph.pad_with_graphs(graph, int(graph.n_node.sum()) + extra_nodes, int(graph.n_edge.sum()) + extra_edges,
                                 n_graph=2)


def gcn_params(conv):
    return {"linear": {"kernel": jnp.asarray(conv.lin.weight.detach().numpy().T)},
            "bias": jnp.asarray(conv.bias.detach().numpy())}


def gat_params(conv, heads: int, features: int):
    return {"linear": {"kernel": jnp.asarray(conv.lin.weight.detach().numpy().T)},
            "att_src": jnp.asarray(conv.att_src.detach().numpy().reshape(heads, features)),
            "att_dst": jnp.asarray(conv.att_dst.detach().numpy().reshape(heads, features)),
            "bias": jnp.asarray(conv.bias.detach().numpy())}


@pytest.mark.parametrize("dense", [False, True])
def test_gcn_layer_matches_gcnconv(dense):
    graph, x, edge_index = karate(8)
    torch.manual_seed(0)
    conv = pyg_nn.GCNConv(8, 5)
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)  # nonzero, so its place (after aggregation) is checked
        want = conv(x, edge_index).numpy()
    got = np.asarray(GCNLayer(5, dense=dense).apply({"params": gcn_params(conv)}, graph))
    assert np.abs(got - want).max() <= 1e-5


@pytest.mark.parametrize("concat", [True, False])
def test_gat_layer_matches_gatconv(concat):
    graph, x, edge_index = karate(6)
    torch.manual_seed(1)
    conv = pyg_nn.GATConv(6, 4, heads=3, concat=concat)
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)
        want = conv(x, edge_index).numpy()
    heads, features = 3, 4
    got = np.asarray(GATLayer(features, heads=heads, concat=concat).apply({"params": gat_params(conv, heads, features)},
                                                                          graph))
    assert got.shape == want.shape and np.abs(got - want).max() <= 1e-5


# PyG's GCNConv keeps one self-loop per node (add_remaining_self_loops) and GATConv removes a graph's loops and
# adds one per node, so a node that already has a loop, or two, must not count itself twice. Under jit the zoo
# layers mask those loops rather than remove them; padding must still leave the real nodes as PyG has them.
@pytest.mark.parametrize("pad", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("dense", [False, True], ids=["sparse", "dense"])
def test_gcn_layer_matches_gcnconv_on_a_graph_with_self_loops(dense, pad):
    graph, x, edge_index = graph_with_self_loops(8)
    torch.manual_seed(2)
    conv = pyg_nn.GCNConv(8, 5)
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)
        want = conv(x, edge_index).numpy()
    layer = jax.jit(GCNLayer(5, dense=dense).apply)
    got = np.asarray(layer({"params": gcn_params(conv)}, padded(graph) if pad else graph))[:len(want)]
    assert np.abs(got - want).max() <= 1e-5


def test_gcn_propagation_with_edge_weights_keeps_a_self_loops_weight_like_gcnconv():
    graph, x, edge_index = graph_with_self_loops(8)
    weight = np.random.default_rng(3).uniform(0.5, 2.0, size=edge_index.shape[1]).astype(np.float32)
    # PyG keeps one of node 11's two loop weights (which one is up to torch's indexed assignment): make them equal.
    loops_of_11 = np.flatnonzero((edge_index[0] == 11).numpy() & (edge_index[1] == 11).numpy())
    weight[loops_of_11] = weight[loops_of_11[0]]
    torch.manual_seed(3)
    conv = pyg_nn.GCNConv(8, 5)
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)
        want = conv(x, edge_index, torch.from_numpy(weight)).numpy()
    params = gcn_params(conv)
    got = gcn_propagation(graph.nodes @ params["linear"]["kernel"], graph.senders, graph.receivers, len(want),
                          jnp.asarray(weight)) + params["bias"]
    assert np.abs(np.asarray(got) - want).max() <= 1e-5


@pytest.mark.parametrize("pad", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("heads,concat", [(1, True), (3, True), (3, False)])
def test_gat_layer_matches_gatconv_on_a_graph_with_self_loops(heads, concat, pad):
    graph, x, edge_index = graph_with_self_loops(6)
    torch.manual_seed(4)
    conv = pyg_nn.GATConv(6, 4, heads=heads, concat=concat)
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)
        want = conv(x, edge_index).numpy()
    layer = jax.jit(GATLayer(4, heads=heads, concat=concat).apply)
    got = np.asarray(layer({"params": gat_params(conv, heads, 4)}, padded(graph) if pad else graph))[:len(want)]
    assert got.shape == want.shape and np.abs(got - want).max() <= 1e-5
