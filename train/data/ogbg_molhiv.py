"""The ogbg_molhiv TFDS builder that TFDS 4.9 lacks: OGB's CSV release of HIV (41,127 molecules, scaffold
split), prepared with numpy into records laid out like TFDS's ogbg_molpcba, so train.data.graph_tfds reads
both the same way. Importing this module registers the name with TFDS; preparing downloads OGB's zip once.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from train.data.graph_tfds import EDGE_FEATURES, EDGE_INDEX, LABELS, NODE_FEATURES, NUM_EDGES, NUM_NODES

HIV_URL = "https://snap.stanford.edu/ogb/data/graphproppred/csv_mol_download/hiv.zip"
_CSV_COLUMNS = {  # record field -> (file under raw/, dtype)
    EDGE_INDEX: ("edge.csv.gz", np.int64), NUM_NODES: ("num-node-list.csv.gz", np.int64),
    NUM_EDGES: ("num-edge-list.csv.gz", np.int64), NODE_FEATURES: ("node-feat.csv.gz", np.float32),
    EDGE_FEATURES: ("edge-feat.csv.gz", np.float32), LABELS: ("graph-label.csv.gz", np.int64),
}


def read_ogb_csv(root: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """An extracted OGB graph-property folder (raw/*.csv.gz, split/scaffold/*.csv.gz) -> (columns, split
    indices), columns concatenated over all graphs as OGB writes them."""
    columns = {field: np.loadtxt(root / "raw" / file, delimiter=",", dtype=dtype, ndmin=2)
               for field, (file, dtype) in _CSV_COLUMNS.items()}
    splits = {split: np.loadtxt(root / "split" / "scaffold" / f"{split}.csv.gz", dtype=np.int64, ndmin=1)
              for split in ("train", "valid", "test")}
    return columns, splits


def ogb_records(columns: dict[str, np.ndarray], indices: np.ndarray):
    """(graph id, record) for each graph in `indices`, sliced out of the concatenated columns."""
    num_nodes, num_edges = columns[NUM_NODES].reshape(-1), columns[NUM_EDGES].reshape(-1)
    node_start = np.concatenate([[0], np.cumsum(num_nodes)])
    edge_start = np.concatenate([[0], np.cumsum(num_edges)])
    for graph in np.sort(indices):
        nodes, edges = slice(node_start[graph], node_start[graph + 1]), slice(edge_start[graph], edge_start[graph + 1])
        yield int(graph), {
            NUM_NODES: num_nodes[graph:graph + 1], NODE_FEATURES: columns[NODE_FEATURES][nodes],
            NUM_EDGES: num_edges[graph:graph + 1], EDGE_FEATURES: columns[EDGE_FEATURES][edges],
            EDGE_INDEX: columns[EDGE_INDEX][edges], LABELS: columns[LABELS][graph],
        }


class OgbgMolhiv(tfds.core.GeneratorBasedBuilder):
    """OGB's ogbg-molhiv: does a molecule inhibit HIV replication? (TFDS registers it as ogbg_molhiv.)"""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "OGB's CSV release, records laid out like TFDS's ogbg_molpcba."}

    def _info(self) -> tfds.core.DatasetInfo:
        tensor = tfds.features.Tensor
        return tfds.core.DatasetInfo(
            builder=self,
            description="ogbg-molhiv from the Open Graph Benchmark: 41,127 molecules (atoms: 9 features, bonds: "
                        "3), labelled HIV_active, split by scaffold; each bond listed once, as OGB stores it.",
            features=tfds.features.FeaturesDict({
                NUM_NODES: tensor(shape=(None,), dtype=np.int64),
                NODE_FEATURES: tensor(shape=(None, 9), dtype=np.float32),
                NUM_EDGES: tensor(shape=(None,), dtype=np.int64),
                EDGE_FEATURES: tensor(shape=(None, 3), dtype=np.float32),
                EDGE_INDEX: tensor(shape=(None, 2), dtype=np.int64),
                LABELS: tensor(shape=(1,), dtype=np.int64),
            }),
            homepage="https://ogb.stanford.edu/docs/graphprop/#ogbg-mol",
            metadata=tfds.core.MetadataDict({"tasks": ["HIV_active"]}),
        )

    def _split_generators(self, dl_manager):
        columns, splits = read_ogb_csv(Path(dl_manager.download_and_extract(HIV_URL)) / "hiv")
        return {"train": self._generate_examples(columns, splits["train"]),
                "validation": self._generate_examples(columns, splits["valid"]),
                "test": self._generate_examples(columns, splits["test"])}

    def _generate_examples(self, columns, indices):
        yield from ogb_records(columns, indices)
