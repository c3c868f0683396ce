"""Graph batches: power-of-two budgets, masks over padding, device shards, and a bounded number of compiles."""
import jax
import jraph
import numpy as np
import optax
import pytest

import zoo
from train.data import graph_sets, train_batches
from train.data.graph_sources import GraphSource
from train.state import create_train_state
from train.losses import get_loss
from train.steps import SupervisedStep
from train.steps.supervised import sharded_call
from zoo.graph import next_power_of_two, pad_batch


@pytest.fixture(scope="module")
def atlas():
    return graph_sets.graph_atlas("connected")


def test_next_power_of_two():
    assert [next_power_of_two(n) for n in (1, 2, 3, 64, 65)] == [1, 2, 4, 64, 128]


def test_padding_keeps_real_graphs_and_masks_the_rest(atlas):
    source = atlas.splits["train"]
    batch = source.collate(np.arange(5), shards=1, capacity=8)
    graph = jax.tree.map(lambda v: v[0], batch["x"])  # the only shard
    n_node, n_edge = graph.nodes.shape[0], graph.senders.shape[0]
    assert n_node == next_power_of_two(n_node) and n_edge == next_power_of_two(n_edge)
    assert graph.n_node.shape == (9,) and batch["mask"][0].tolist() == [1] * 5 + [0] * 4
    assert batch["y"][0, :5].tolist() == source.labels[:5].tolist()
    real = jraph.unbatch_np(jraph.unpad_with_graphs(graph))
    for mine, original in zip(real, source.graphs[:5]):
        np.testing.assert_array_equal(mine.nodes, original.nodes)
        np.testing.assert_array_equal(mine.senders, original.senders)
    assert len(real) == 5


def test_shards_hold_whole_graphs_with_local_indices(atlas):
    source = atlas.splits["train"]
    batch = source.collate(np.arange(8), shards=2, capacity=8)
    assert batch["mask"].shape == (2, 5) and batch["x"].nodes.shape[0] == 2
    for shard, members in enumerate((range(0, 4), range(4, 8))):
        graph = jax.tree.map(lambda v, s=shard: v[s], batch["x"])
        assert graph.senders.max() < graph.nodes.shape[0]  # indices are local to the shard
        assert list(graph.n_node[:4]) == [int(source.graphs[i].n_node[0]) for i in members]


def test_too_few_padding_graphs_is_explained(atlas):
    with pytest.raises(ValueError, match="padding graph"):
        pad_batch(atlas.splits["train"].graphs[:3], n_graph=3)


def test_an_epoch_of_varied_graphs_compiles_a_bounded_number_of_times(atlas):
    source: GraphSource = atlas.splits["train"]
    model = zoo.create("gcn", num_classes=2, hidden=(16,), level="graph")
    tx = optax.adam(1e-3)
    state = create_train_state(model, tx, source.take(np.arange(1))[0], seed=0)
    step = jax.jit(SupervisedStep(model, tx, get_loss("softmax_cross_entropy"), call=sharded_call).train)
    real_sizes, padded_sizes = set(), set()
    for batch in train_batches(source, 16, seed=0, epoch=0):
        real = batch["mask"][0] > 0
        real_sizes.add((int(batch["x"].n_node[0][real].sum()), int(batch["x"].n_edge[0][real].sum())))
        padded_sizes.add(batch["x"].nodes.shape[1:2] + batch["x"].senders.shape[1:])
        state, metrics = step(state, batch)
    assert np.isfinite(float(metrics["loss"]))
    # Dozens of distinct real batch sizes, a handful of padded shapes, one compile per padded shape.
    assert len(real_sizes) > 20
    assert step._cache_size() == len(padded_sizes) <= 6, (len(real_sizes), padded_sizes)
