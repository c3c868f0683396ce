"""Registry cards of the graph family. One network serves three tasks: the trainer sets `level` from the
data set ('node', 'graph' or 'link'); the default data set and reference are each model's showcase."""
from __future__ import annotations

from typing import Any

from zoo.graph.deepsets import DeepSets
from zoo.graph.examples import graph_inputs
from zoo.graph.mpnn import MPNN
from zoo.graph.networks import GAT, GCN
from zoo.registry import Reference, register_model

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
    register_model(
        name, builder, family="graph", task="graph", loss="softmax_cross_entropy", default_dataset=default_dataset,
        input_spec=INPUT_SPEC, example_input_shape=(8,), example=graph_inputs,
        reference=Reference(metric, value, dataset, source), description=description, defaults=defaults,
        recipe=recipe, head=head, input_dtype="graph",
        # One network, three heads: the data set says whether one example is a node, a graph or a pair.
        data_fields={"num_classes": "num_classes", "level": "graph_level"})


# Kipf & Welling's (2017) semi-supervised karate setting; figures measured here (card recipes, seed 0).
KARATE = ("karate (2 labelled leaders, 32 test members)",
          "measured: benchmarks/results/graph_tasks_cpu.json (31 of 32 members); "
          "tests/test_graph_tasks.py asserts >= 0.90")
ATLAS = ("graph_atlas (is connected; 1,002 train / 250 test graphs)",
         "measured: benchmarks/results/graph_tasks_cpu.json, mean of 3 seeds; an MLP on the degree histogram: 0.955")


def register_all() -> None:
    _register("gcn", GCN, default_dataset="karate", recipe=NODE_RECIPE,
              reference=(0.969, *KARATE),
              description="Graph convolutional network: H' = relu(D^-1/2 (A+I) D^-1/2 H W), sparse over the edge "
                          "list; node, graph (read-out) or link (pair) head")
    _register("gcn_dense", GCN, default_dataset="karate", recipe=NODE_RECIPE, defaults={"dense": True},
              reference=(0.969, *KARATE),
              description="The same GCN through the dense normalised [N, N] adjacency: equal outputs, for small "
                          "dense graphs")
    _register("gat", GAT, default_dataset="karate", recipe={**NODE_RECIPE, "lr": 0.005},
              reference=(0.969, *KARATE),
              description="Graph attention network: multi-head attention over each node's neighbours, softmax per "
                          "receiving node")
    _register("mpnn", MPNN, default_dataset="graph_atlas", recipe=GRAPH_RECIPE,
              reference=(0.979, *ATLAS),
              description="General message passing (jraph.GraphNetwork): edge messages from both end nodes, "
                          "residual node updates, any read-out")
    _register("deepsets", DeepSets, default_dataset="graph_atlas", recipe=GRAPH_RECIPE, head=("head",),
              reference=(0.957, *ATLAS),
              description="Deep Sets: shared encoder phi per element, sum/mean/max/attention pooling, decoder rho; "
                          "ignores edges (sets are graphs without them)")
