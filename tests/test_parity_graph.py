"""Graph layers against PyTorch Geometric with the same weights on the same graph."""
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pyg_nn = pytest.importorskip("torch_geometric.nn")
nx = pytest.importorskip("networkx")
jraph = pytest.importorskip("jraph")

from zoo.graph import GATLayer, GCNLayer  # noqa: E402

pytestmark = pytest.mark.parity


def karate(features: int):
    g = nx.karate_club_graph()
    edges = np.array([(u, v) for u, v in g.edges] + [(v, u) for u, v in g.edges], np.int64)
    x = np.random.default_rng(0).normal(size=(g.number_of_nodes(), features)).astype(np.float32)
    graph = jraph.GraphsTuple(nodes=jnp.asarray(x), edges=None, senders=jnp.asarray(edges[:, 0], jnp.int32),
                              receivers=jnp.asarray(edges[:, 1], jnp.int32), n_node=jnp.array([len(x)]),
                              n_edge=jnp.array([len(edges)]), globals=None)
    return graph, torch.from_numpy(x), torch.from_numpy(edges.T.copy())


@pytest.mark.parametrize("dense", [False, True])
def test_gcn_layer_matches_gcnconv(dense):
    graph, x, edge_index = karate(8)
    torch.manual_seed(0)
    conv = pyg_nn.GCNConv(8, 5)
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)  # nonzero, so its place (after aggregation) is checked
        want = conv(x, edge_index).numpy()
    params = {"linear": {"kernel": jnp.asarray(conv.lin.weight.detach().numpy().T)},
              "bias": jnp.asarray(conv.bias.detach().numpy())}
    got = np.asarray(GCNLayer(5, dense=dense).apply({"params": params}, graph))
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
    params = {"linear": {"kernel": jnp.asarray(conv.lin.weight.detach().numpy().T)},
              "att_src": jnp.asarray(conv.att_src.detach().numpy().reshape(heads, features)),
              "att_dst": jnp.asarray(conv.att_dst.detach().numpy().reshape(heads, features)),
              "bias": jnp.asarray(conv.bias.detach().numpy())}
    got = np.asarray(GATLayer(features, heads=heads, concat=concat).apply({"params": params}, graph))
    assert got.shape == want.shape and np.abs(got - want).max() <= 1e-5
