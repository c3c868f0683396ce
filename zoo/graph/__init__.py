"""Graph networks on jraph.GraphsTuple: Deep Sets, GCN (sparse and dense), GAT, message passing (MPNN),
with per-node, per-graph (sum/mean/max/attention read-out) and per-pair (link) heads, and padding to
power-of-two budgets so batches of varied graphs compile a bounded number of times."""
from zoo.graph.jraph_compat import patch_jraph

jraph = patch_jraph()

from zoo.graph.batching import budgets, next_power_of_two, pad_batch, stack_shards  # noqa: E402
from zoo.graph.cards import register_all  # noqa: E402
from zoo.graph.deepsets import DeepSets  # noqa: E402
from zoo.graph.gat import GATLayer  # noqa: E402
from zoo.graph.gcn import GCNLayer, dense_gcn_propagation, gcn_propagation  # noqa: E402
from zoo.graph.head import LEVELS, GraphPairs, PredictionHead  # noqa: E402
from zoo.graph.mpnn import MPNN  # noqa: E402
from zoo.graph.networks import GAT, GCN  # noqa: E402
from zoo.graph.readout import READOUTS, AttentionReadout, node_graph_ids, pool, read_out  # noqa: E402

register_all()

__all__ = ["GAT", "GCN", "LEVELS", "MPNN", "READOUTS", "AttentionReadout", "DeepSets", "GATLayer", "GCNLayer",
           "GraphPairs", "PredictionHead", "budgets", "dense_gcn_propagation", "gcn_propagation", "jraph",
           "next_power_of_two", "node_graph_ids", "pad_batch", "pool", "read_out", "stack_shards"]
