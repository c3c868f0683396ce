"""tfds:ogbg_molhiv (OGB-format graph records) as graph classification, offline.

TFDS's default mock records are random per field: num_nodes is a random-length vector, node_feat has an
unrelated number of rows and edge_index holds values up to 255, so they are not graphs at all. The mock
here keeps TFDS's machinery (builder lookup, no-op download, data_dir redirection) and replaces only the
records, through `as_data_source_fn`, with small consistent molecules laid out as OGB stores them: each bond
once, in one direction (plus a few listed in both directions or twice, which the loader must fold).
"""
import gzip

import numpy as np
import pytest

from conftest import quick
from train import train_and_evaluate
from train.data import load_dataset

tfds = pytest.importorskip("tensorflow_datasets")
graph_tfds = pytest.importorskip("train.data.graph_tfds")
pytest.importorskip("train.data.ogbg_molhiv")  # registers the ogbg_molhiv builder


def molecule(rng: np.random.Generator, label: int) -> dict:
    """A random tree of 2..9 atoms plus one ring bond, each bond listed once, as OGB's CSVs hold it."""
    n = int(rng.integers(2, 10))
    bonds = [(int(rng.integers(0, i)), i) for i in range(1, n)]
    if n > 3:
        bonds.append((n - 1, 0))  # a ring
    if n > 4:
        bonds += [bonds[0][::-1], bonds[1]]  # one bond given in both directions, one listed twice
    return {"num_nodes": np.array([n]), "node_feat": rng.random((n, 9), dtype=np.float32),
            "num_edges": np.array([len(bonds)]), "edge_feat": rng.random((len(bonds), 3), dtype=np.float32),
            "edge_index": np.array(bonds, np.int64).reshape(-1, 2), "labels": np.array([label])}


SIZES = {"train": 40, "validation": 12, "test": 16}


def split_records(corrupt: tuple[str, int] | None = None) -> dict[str, list[dict]]:
    rng = np.random.default_rng(0)
    records = {split: [molecule(rng, i % 2) for i in range(size)] for split, size in SIZES.items()}
    if corrupt:
        split, i = corrupt
        records[split][i]["edge_index"][0, 1] = records[split][i]["num_nodes"][0]  # one past the last node
    return records


def mock_ogb(records: dict[str, list[dict]]):
    def as_data_source(self, split=None, **kwargs):
        return [records[s] for s in split] if isinstance(split, (list, tuple)) else records[split]
    # USE_CODE: the builder's own features, no metadata files, downloading a no-op.
    return tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_CODE, as_data_source_fn=as_data_source)


def test_ogbg_molhiv_loads_as_symmetric_graphs_with_binary_labels():
    with mock_ogb(split_records()):
        ds = load_dataset("tfds:ogbg_molhiv")
    assert ds.name == "tfds:ogbg_molhiv" and ds.graph_level == "graph" and ds.fixed_splits
    assert ds.num_classes == 2 and ds.input_shape == (9,) and ds.class_names == ["inactive", "active"]
    assert {s: len(src) for s, src in ds.splits.items()} == SIZES  # the shipped splits, nothing carved
    for source in ds.splits.values():
        assert source.labels.dtype == np.int32 and set(source.labels.tolist()) == {0, 1}
        for graph in source.graphs:
            n = int(graph.n_node[0])
            assert graph.nodes.shape == (n, 9) and graph.nodes.dtype == np.float32
            assert graph.edges.shape == (int(graph.n_edge[0]), 3) and graph.edges.dtype == np.float32
            assert graph.senders.dtype == graph.receivers.dtype == np.int32 and graph.globals is None
            pairs = list(zip(graph.senders.tolist(), graph.receivers.tolist()))
            assert len(set(pairs)) == len(pairs), "a directed edge repeats"
            assert set(pairs) == {(r, s) for s, r in pairs}, "an edge lacks its reverse"
            assert all(0 <= v < n for pair in pairs for v in pair)


def test_an_added_reverse_edge_carries_its_bond_features():
    record = {"num_nodes": np.array([3]), "node_feat": np.zeros((3, 9), np.float32), "num_edges": np.array([3]),
              "edge_index": np.array([[0, 1], [2, 1], [1, 2]]),
              "edge_feat": np.array([[1, 0, 0], [2, 0, 0], [3, 0, 0]])}
    graph = graph_tfds.graph_from_record(record, "test record")
    edges = {(s, r): int(e[0]) for s, r, e in zip(graph.senders.tolist(), graph.receivers.tolist(), graph.edges)}
    # (0, 1) gains (1, 0); 2 -> 1 and 1 -> 2 are both given, so each keeps its own features.
    assert edges == {(0, 1): 1, (1, 0): 1, (2, 1): 2, (1, 2): 3}


def test_gcn_trains_on_ogbg_molhiv_and_reports_roc_auc(tmp_path):
    config = quick("gcn", dataset="tfds:ogbg_molhiv", epochs=1, batch_size=8, limit_train=32, limit_test=16)
    with mock_ogb(split_records()):
        summary = train_and_evaluate(config, tmp_path).summary
    assert isinstance(summary["test_roc_auc"], float)
    assert np.isfinite(summary["test_roc_auc"])  # both classes are in the mock test split


def test_an_edge_outside_the_graph_names_the_set_split_and_record():
    with mock_ogb(split_records(corrupt=("validation", 2))), pytest.raises(
            ValueError, match=r"tfds:ogbg_molhiv split 'validation' record 2: edge 0 .* outside the graph's nodes"):
        load_dataset("tfds:ogbg_molhiv")


def test_a_multi_task_ogb_set_is_refused_with_the_fix():
    with tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_CODE), pytest.raises(
            ValueError, match=r"ogbg_molpcba has 128 prediction tasks.*tfds:ogbg_molhiv"):
        load_dataset("tfds:ogbg_molpcba")


def write_ogb_csv_folder(root):
    """OGB's extracted layout (hiv/raw/*.csv.gz, hiv/split/scaffold/*.csv.gz) for four tiny molecules."""
    sizes, bonds = [3, 1, 4, 2], [[(0, 1), (1, 2)], [], [(0, 1), (1, 2), (2, 3), (3, 0)], [(0, 1)]]
    columns = {
        "num-node-list": [[n] for n in sizes], "num-edge-list": [[len(b)] for b in bonds],
        "edge": [list(b) for graph in bonds for b in graph],
        "node-feat": [[i] * 9 for i in range(sum(sizes))],
        "edge-feat": [[i, 0, 1] for i in range(sum(map(len, bonds)))], "graph-label": [[0], [1], [1], [0]],
    }
    splits = {"train": [[0], [2]], "valid": [[1]], "test": [[3]]}
    for folder, tables in ((root / "hiv" / "raw", columns), (root / "hiv" / "split" / "scaffold", splits)):
        folder.mkdir(parents=True)
        for name, rows in tables.items():
            with gzip.open(folder / f"{name}.csv.gz", "wt") as f:
                f.writelines(",".join(map(str, row)) + "\n" for row in rows)


def test_the_builder_prepares_ogb_csv_files_into_a_loadable_set(tmp_path, monkeypatch):
    write_ogb_csv_folder(tmp_path / "extracted")
    # Stands in for fetching and unzipping hiv.zip: no network in tests.
    monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract",
                        lambda self, url: tmp_path / "extracted")
    tfds.builder("ogbg_molhiv", data_dir=str(tmp_path / "tfds"), file_format="array_record").download_and_prepare()
    ds = load_dataset("tfds:ogbg_molhiv", data_dir=str(tmp_path / "tfds"), download=False)
    assert {s: len(src) for s, src in ds.splits.items()} == {"train": 2, "validation": 1, "test": 1}
    ring = next(g for g in ds.splits["train"].graphs if int(g.n_node[0]) == 4)
    assert int(ring.n_edge[0]) == 8 and ring.nodes[:, 0].tolist() == [4, 5, 6, 7]  # 4 bonds, both directions
    lone_atom = ds.splits["validation"].graphs[0]
    assert int(lone_atom.n_edge[0]) == 0 and lone_atom.edges.shape == (0, 3)
    assert ds.splits["validation"].labels.tolist() == [1] and ds.splits["test"].labels.tolist() == [0]
