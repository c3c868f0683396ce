"""Graph networks: one network, three levels (node, graph, link) set from the data set, classified as usual.

Batches are stacked as one self-contained padded shard of whole graphs per device (train.steps.shards);
masks keep padding graphs, nodes and pairs out of losses and metrics."""
from __future__ import annotations

from train.steps.supervised import no_transform, sharded_call
from train.tasks.classification import ClassificationTask
from train.tasks.registry import register_task


@register_task("graph")
class GraphTask(ClassificationTask):
    data_kinds = ("graph",)
    shards_batches = True
    call = staticmethod(sharded_call)

    def inputs(self):
        return no_transform
