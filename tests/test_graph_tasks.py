"""The graph family's three tasks through the one training loop: node (karate), graph (atlas), link."""
import jax
import numpy as np
import pytest

import zoo
from conftest import quick
from rounding import assert_equal_up_to_rounding
from train import train_and_evaluate
from train.data import load_dataset
from zoo.errors import InputShapeError, ZooError
from zoo.graph import GraphPairs


def test_gcn_classifies_the_karate_club_from_its_two_leaders(tmp_path):
    # Kipf & Welling's semi-supervised setting: 2 labelled members (the leaders), 32 to infer.
    summary = train_and_evaluate(quick("gcn"), tmp_path).summary
    assert summary["data"]["train_size"] == 2 and summary["data"]["test_size"] == 32
    assert summary["test_accuracy"] >= 0.90


def test_dense_and_sparse_gcn_networks_agree():
    graph = load_dataset("karate").splits["train"].take(np.arange(1))[0]
    sparse, dense = zoo.create("gcn", level="node"), zoo.create("gcn_dense", level="node")
    variables = sparse.init(jax.random.key(0), graph)
    # Two programs for the same sums: per layer, the dense product adds all 34 members where the sparse one adds
    # the neighbours, then the features (34 one-hot ids, then 32 and 32 hidden) and the 32-wide head.
    assert_equal_up_to_rounding(dense.apply(variables, graph), sparse.apply(variables, graph),
                                terms=3 * 34 + 34 + 32 + 32 + 32)


def test_a_graph_network_beats_an_mlp_on_the_degree_histogram(tmp_path):
    # Same splits, same per-node information (one-hot degrees, whose sum is the histogram): the graph
    # network also sees the edges, which is what connectivity depends on.
    # One checkpoint at the end: saving after each of the 100 epochs would cost a third of the run.
    settings = {"epochs": 100, "batch_size": 32, "optimizer": "adam", "lr": 3e-3, "checkpoint_epochs": 100}
    graph = train_and_evaluate(quick("gcn", dataset="graph_atlas_connected", **settings,
                                     model_overrides={"hidden": (64, 64), "dropout": 0.0}), tmp_path / "g").summary
    baseline = train_and_evaluate(quick("mlp", dataset="graph_atlas_connected_degrees", **settings,
                                        model_overrides={"hidden": (64, 64)}), tmp_path / "b").summary
    assert graph["test_accuracy"] > baseline["test_accuracy"] + 0.01, (graph["test_accuracy"],
                                                                       baseline["test_accuracy"])


def test_link_prediction_ranks_held_out_edges_above_non_edges(tmp_path):
    summary = train_and_evaluate(quick("gcn", dataset="les_miserables_links", batch_size=36, epochs=100,
                                       checkpoint_epochs=100, model_overrides={"dropout": 0.0}), tmp_path).summary
    assert summary["data"]["graph_level"] == "link"
    assert summary["test_roc_auc"] >= 0.8


def test_graph_models_and_data_refuse_each_other_with_the_fix(tmp_path):
    with pytest.raises(ZooError, match="graph data set"):
        train_and_evaluate(quick("gcn", dataset="digits", epochs=1), tmp_path / "a")
    with pytest.raises(ZooError, match="or a graph model"):
        train_and_evaluate(quick("mlp", dataset="karate", epochs=1), tmp_path / "b")
    with pytest.raises(ValueError, match="level='graph'"):
        train_and_evaluate(quick("deepsets", dataset="karate", epochs=1, batch_size=2), tmp_path / "c")


def test_wrong_graph_inputs_name_the_fix():
    graph = load_dataset("karate").splits["train"].take(np.arange(1))[0]
    model = zoo.create("gcn", level="node")
    variables = model.init(jax.random.key(0), graph)
    with pytest.raises(InputShapeError, match="GraphsTuple"):
        model.apply(variables, graph.nodes)
    with pytest.raises(InputShapeError, match="level='link'"):
        model.apply(variables, GraphPairs(graph, np.zeros((1, 2), np.int32)))
    with pytest.raises(InputShapeError, match="GraphPairs"):
        zoo.create("gcn", level="link").init(jax.random.key(0), graph)


def test_link_training_resumes_on_the_same_negative_samples(tmp_path):
    # Negatives are drawn from (seed, epoch, batch), so a resumed run sees the pairs the unbroken one saw.
    run = {"dataset": "les_miserables_links", "batch_size": 36}
    full = train_and_evaluate(quick("gcn", epochs=4, **run), tmp_path / "full").state.params
    train_and_evaluate(quick("gcn", epochs=2, **run), tmp_path / "split")
    resumed = train_and_evaluate(quick("gcn", epochs=4, resume=True, allow_changed="epochs", **run),
                                 tmp_path / "split").state.params
    jax.tree.map(np.testing.assert_array_equal, full, resumed)
