"""Graph networks on jraph.GraphsTuple (issue 5, in progress): GCN (sparse and dense) and GAT layers, read-outs."""
from zoo.graph.jraph_compat import patch_jraph

jraph = patch_jraph()

from zoo.graph.gat import GATLayer  # noqa: E402
from zoo.graph.gcn import GCNLayer, dense_gcn_propagation, gcn_propagation  # noqa: E402
from zoo.graph.readout import READOUTS, AttentionReadout, node_graph_ids, pool  # noqa: E402

__all__ = ["READOUTS", "AttentionReadout", "GATLayer", "GCNLayer", "dense_gcn_propagation", "gcn_propagation",
           "jraph", "node_graph_ids", "pool"]
