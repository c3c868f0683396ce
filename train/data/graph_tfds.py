"""TFDS graph sets in the OGB format (tfds:ogbg_molhiv) as graph classification over GraphSource splits.

An OGB-format record is one graph: OGB's raw CSV columns cut per graph, as TFDS's ogbg_molpcba holds them:

    num_nodes  [1] int      node_feat  [n, F] float   edge_index [e, 2] int (sender, receiver; local ids)
    num_edges  [1] int      edge_feat  [e, Fe] float  labels     [T]  (one column per prediction task)

OGB stores an undirected graph with each edge listed once, in one direction (its `add_inverse_edge` flag
tells its own loader to add the reverses), and TFDS passes those rows through unchanged. Message passing
needs both directions, so every record is made symmetric here: each edge whose reverse is missing gains it
with the same features, and a pair listed twice is kept once. Whatever the source lists, every undirected
edge then appears exactly once in each direction.

TFDS 4.9 ships ogbg_molpcba (128 tasks, with missing labels) but not ogbg_molhiv; train.data.ogbg_molhiv
registers that builder (OGB's own CSV release, records of the same layout). Only single-task sets with
binary labels are served; each split is read into memory whole at load (molhiv's graphs are small).
"""
from __future__ import annotations

import jraph
import numpy as np
import tensorflow_datasets as tfds

from train.data.graph_sources import GraphSource
from train.data.sources import Dataset
from train.data.tfds_fetch import data_source
from zoo.errors import DataError

NUM_NODES, NODE_FEATURES, EDGE_INDEX, EDGE_FEATURES, NUM_EDGES, LABELS = (
    "num_nodes", "node_feat", "edge_index", "edge_feat", "num_edges", "labels")
CLASS_NAMES = ["inactive", "active"]  # OGB's molecule classification tasks are binary assays
_CORRUPT = ("the record is corrupt: delete the data set's folder under the TFDS data dir (--data-dir or "
            "~/tensorflow_datasets) and load it again to re-prepare it")


def is_ogb_graph(features) -> bool:
    """Whether a builder's features are an OGB-format graph (what tfds_source dispatches on)."""
    return {NUM_NODES, NODE_FEATURES, EDGE_INDEX, LABELS} <= set(features.keys())


def symmetric_edges(index: np.ndarray, features: np.ndarray | None):
    """Edges [e, 2] (and their features) -> each undirected edge once per direction, given order first."""
    both = np.concatenate([index, index[:, ::-1]])
    _, first = np.unique(both, axis=0, return_index=True)  # first listing wins: given edges keep their features
    keep = np.sort(first)
    return both[keep], None if features is None else np.concatenate([features, features])[keep]


def graph_from_record(record, where: str) -> jraph.GraphsTuple:
    """One OGB-format record -> a single-graph jraph.GraphsTuple with numpy leaves; `where` names the record
    in errors."""
    num_nodes = int(np.asarray(record[NUM_NODES]).reshape(-1)[0])  # a length-1 vector, as OGB stores it
    nodes = np.asarray(record[NODE_FEATURES], np.float32)
    index = np.asarray(record[EDGE_INDEX], np.int64).reshape(-1, 2)
    features = None if record.get(EDGE_FEATURES) is None else np.asarray(record[EDGE_FEATURES], np.float32)
    num_edges = int(np.asarray(record[NUM_EDGES]).reshape(-1)[0]) if NUM_EDGES in record else len(index)
    if nodes.ndim != 2 or len(nodes) != num_nodes:
        raise DataError(f"{where}: node_feat has shape {nodes.shape} for {num_nodes} nodes; {_CORRUPT}")
    if num_edges != len(index) or (features is not None and (features.ndim != 2 or len(features) != len(index))):
        raise DataError(f"{where}: num_edges {num_edges}, edge_index {index.shape[0]} rows and edge_feat shape "
                         f"{None if features is None else features.shape} disagree; {_CORRUPT}")
    outside = (index < 0) | (index >= num_nodes)
    if outside.any():
        row = int(np.argwhere(outside)[0][0])
        raise DataError(f"{where}: edge {row} is {index[row].tolist()}, outside the graph's nodes "
                         f"[0, {num_nodes}); {_CORRUPT}")
    index, features = symmetric_edges(index, features)
    return jraph.GraphsTuple(nodes=nodes, edges=features, senders=index[:, 0].astype(np.int32),
                             receivers=index[:, 1].astype(np.int32), n_node=np.array([num_nodes], np.int32),
                             n_edge=np.array([len(index)], np.int32), globals=None)


def label_from_record(record, where: str) -> int:
    label = float(np.asarray(record[LABELS], np.float64).reshape(-1)[0])
    if label not in (0.0, 1.0):  # NaN (a missing label) fails this too
        raise DataError(f"{where}: label {label} is not 0 or 1; this path serves binary graph labels")
    return int(label)


def read_split(name: str, split: str, source) -> GraphSource:
    graphs, labels = [], []
    for i in range(len(source)):
        record, where = source[i], f"tfds:{name} split {split!r} record {i}"
        graphs.append(graph_from_record(record, where))
        labels.append(label_from_record(record, where))
    return GraphSource(graphs, np.asarray(labels, np.int32))


def load_graphs(name: str, data_dir: str | None, download: bool) -> Dataset:
    """A TFDS OGB-format graph set with one binary task -> graph classification with the set's own splits."""
    builder = tfds.builder(name, data_dir=data_dir)
    features = builder.info.features
    tasks = features[LABELS].shape[-1] if features[LABELS].shape else 1
    if tasks != 1:
        raise DataError(f"tfds:{name} has {tasks} prediction tasks per graph; zoo serves one class label per "
                         "graph: use a single-task OGB set such as tfds:ogbg_molhiv")
    known = set(builder.info.splits)
    # OGB ships train/validation/test; with nothing known (TFDS mock data) every split name is accepted.
    split_names = ["train", "validation", "test"] if not known or "validation" in known else ["train", "test"]
    sources = data_source(name, split_names, data_dir, download, builder)
    splits = {split: read_split(name, split, source) for split, source in zip(split_names, sources)}
    return Dataset(f"tfds:{name}", splits, "graph", 2, (int(features[NODE_FEATURES].shape[-1]),),
                   class_names=list(CLASS_NAMES), graph_level="graph", fixed_splits="validation" in splits,
                   description=f"TFDS {name}: OGB molecule graphs, edges made symmetric, binary label")
