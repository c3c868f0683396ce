import gzip

import numpy as np
import pytest

from train.data import MissingDataError, eval_batches, list_datasets, load_dataset, train_batches
from train.data.idx import read_idx
from zoo.errors import UnknownNameError


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_idx_dir(tmp_path):
    """A fake MNIST directory in the standard four-file layout."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return tmp_path


def test_offline_registry():
    assert {"digits", "iris", "breast_cancer", "mnist", "fashion_mnist"} <= set(list_datasets())


@pytest.mark.parametrize("name,classes,shape", [("digits", 10, (8, 8)), ("iris", 3, (4,)), ("breast_cancer", 2, (30,))])
def test_sklearn_sets_split_three_ways(name, classes, shape):
    ds = load_dataset(name, validation_fraction=0.1, seed=0)
    assert ds.num_classes == classes and ds.input_shape == shape
    sizes = {k: len(v) for k, v in ds.splits.items()}
    assert set(sizes) == {"train", "validation", "test"} and all(sizes.values())
    x, y = ds.splits["train"].take(np.arange(4))
    assert x.dtype == np.float32 and x.shape == (4, *shape) and y.dtype == np.int32
    # The test split is fixed by the data set, the validation split by the seed.
    other = load_dataset(name, seed=1)
    np.testing.assert_array_equal(other.splits["test"].y, ds.splits["test"].y)
    assert not np.array_equal(other.splits["validation"].x, ds.splits["validation"].x)


def test_idx_dir_loading(tiny_idx_dir):
    ds = load_dataset("mnist", data_dir=str(tiny_idx_dir), validation_fraction=0.25)
    assert [len(ds.splits[s]) for s in ("train", "validation", "test")] == [45, 15, 20]
    x, _ = ds.splits["test"].take(np.arange(3))
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1 and x.shape == (3, 28, 28)
    np.testing.assert_array_equal(read_idx(tiny_idx_dir / "t10k-labels-idx1-ubyte.gz"), np.arange(20) % 10)


def test_idx_dir_found_under_data_dir_by_name(tiny_idx_dir, monkeypatch):
    (tiny_idx_dir / "mnist").mkdir()
    for f in tiny_idx_dir.glob("*.gz"):
        f.rename(tiny_idx_dir / "mnist" / f.name)
    monkeypatch.setenv("ZOO_DATA_DIR", str(tiny_idx_dir))
    assert len(load_dataset("mnist").splits["test"]) == 20


def test_truncated_idx_file_is_reported(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((3, 2, 2)))
    data = gzip.open(tmp_path / "x.gz").read()
    with gzip.open(tmp_path / "bad.gz", "wb") as f:
        f.write(data[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "bad.gz")


def test_missing_data_says_how_to_get_it(tmp_path):
    with pytest.raises(MissingDataError, match=r"--data-dir.*ZOO_DATA_DIR"):
        load_dataset("mnist", data_dir=str(tmp_path))


def test_unknown_dataset_suggests_and_mentions_tfds():
    with pytest.raises(UnknownNameError, match=r"Did you mean: digits.*tfds:NAME"):
        load_dataset("digit")


def test_fashion_mnist_from_debian_package(fashion_dir):
    ds = load_dataset("fashion_mnist")
    assert len(ds.splits["test"]) == 10_000 and len(ds.splits["train"]) + len(ds.splits["validation"]) == 60_000


def test_shuffling_is_seeded_and_resumable():
    source = load_dataset("digits").splits["train"]
    full = list(train_batches(source, 32, seed=3, epoch=2))
    again = list(train_batches(source, 32, seed=3, epoch=2))
    resumed = list(train_batches(source, 32, seed=3, epoch=2, start=5))
    for a, b in zip(full, again):
        np.testing.assert_array_equal(a["x"], b["x"])
    assert len(resumed) == len(full) - 5
    for a, b in zip(full[5:], resumed):
        np.testing.assert_array_equal(a["y"], b["y"])
    other_epoch = next(train_batches(source, 32, seed=3, epoch=3))
    assert not np.array_equal(other_epoch["y"], full[0]["y"])
    assert len(full) == len(source) // 32  # the last partial batch is dropped in training


def test_eval_batches_cover_every_example_once():
    source = load_dataset("iris").splits["test"]
    batches = list(eval_batches(source, 8))
    assert all(len(b["mask"]) == 8 for b in batches)
    mask = np.concatenate([b["mask"] for b in batches])
    assert mask.sum() == len(source) and mask[len(source):].sum() == 0
    np.testing.assert_array_equal(np.concatenate([b["y"] for b in batches])[: len(source)], source.y)


def test_tfds_path_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=24):
        ds = load_dataset("tfds:mnist", validation_fraction=0.25)
        assert ds.num_classes == 10 and ds.input_shape == (28, 28, 1)
        assert len(ds.splits["train"]) == 18 and len(ds.splits["validation"]) == 6
        x, y = ds.splits["test"].take(np.arange(4))
        assert x.shape == (4, 28, 28, 1) and x.dtype == np.float32 and x.max() <= 1 and y.shape == (4,)
