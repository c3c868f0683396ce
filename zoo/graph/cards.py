"""Registry cards of the graph family. One network serves three tasks: the trainer sets `level` from the
data set ('node', 'graph' or 'link'); the default data set and reference are each model's showcase."""
from __future__ import annotations

from typing import Any

from zoo.graph.deepsets import DeepSets
from zoo.graph.mpnn import MPNN
from zoo.graph.networks import GAT, GCN
from zoo.registry import ModelCard, register

INPUT_SPEC = ("jraph.GraphsTuple: nodes float32 [N, F], senders/receivers int32 [E], n_node/n_edge [G] "
              "(pad with zoo.graph.pad_batch); level='link' takes zoo.graph.GraphPairs(graph, pairs [P, 2])")
# A node task's epoch is one full-graph step: log and save every 50 such epochs, not every one.
NODE_RECIPE = {"epochs": 200, "batch_size": 2, "optimizer": "adam", "lr": 0.01, "log_every": 50,
               "checkpoint_epochs": 50}
GRAPH_RECIPE = {"epochs": 100, "batch_size": 32, "optimizer": "adam", "lr": 3e-3}


def _register(name: str, builder, *, reference: tuple[float, str, str], description: str, default_dataset: str,
              recipe: dict[str, Any], defaults: dict[str, Any] | None = None, metric: str = "test_accuracy",
              head: tuple[str, ...] = ("predict",)):
    value, dataset, source = reference
    register(ModelCard(
        name=name, family="graph", builder=builder, task="classification", loss="softmax_cross_entropy",
        default_dataset=default_dataset, input_spec=INPUT_SPEC, example_input_shape=(8,),
        reference={"metric": metric, "value": value, "dataset": dataset, "source": source},
        description=description, defaults=dict(defaults or {}), recipe=dict(recipe), head=head,
        input_dtype="graph"))


KIPF = "Kipf & Welling 2017 (karate demo); measured by tests/test_graph_tasks.py"
MEASURED = "measured in this repo: benchmarks/graph_tasks.py"


def register_all() -> None:
    _register("gcn", GCN, default_dataset="karate", recipe=NODE_RECIPE,
              reference=(0.90, "karate (2 labelled leaders, 32 test members)", KIPF),
              description="Graph convolutional network: H' = relu(D^-1/2 (A+I) D^-1/2 H W), sparse over the edge "
                          "list; node, graph (read-out) or link (pair) head")
    _register("gcn_dense", GCN, default_dataset="karate", recipe=NODE_RECIPE, defaults={"dense": True},
              reference=(0.90, "karate (2 labelled leaders, 32 test members)", KIPF),
              description="The same GCN through the dense normalised [N, N] adjacency: equal outputs, for small "
                          "dense graphs")
    _register("gat", GAT, default_dataset="karate", recipe={**NODE_RECIPE, "lr": 0.005},
              reference=(0.90, "karate (2 labelled leaders, 32 test members)", MEASURED),
              description="Graph attention network: multi-head attention over each node's neighbours, softmax per "
                          "receiving node")
    _register("mpnn", MPNN, default_dataset="graph_atlas", recipe=GRAPH_RECIPE,
              reference=(0.0, "graph_atlas (is connected)", MEASURED),
              description="General message passing (jraph.GraphNetwork): edge messages from both end nodes, "
                          "residual node updates, any read-out")
    _register("deepsets", DeepSets, default_dataset="graph_atlas", recipe=GRAPH_RECIPE, head=("head",),
              reference=(0.0, "graph_atlas (is connected)", MEASURED),
              description="Deep Sets: shared encoder phi per element, sum/mean/max/attention pooling, decoder rho; "
                          "ignores edges (sets are graphs without them)")
