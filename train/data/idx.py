"""MNIST-format IDX files (the four standard files of MNIST and Fashion-MNIST)."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from zoo.errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[data[2]])
    body = np.frombuffer(data, dtype, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: header says {shape}, found {body.size} values")
    return body.reshape(shape)


def find_file(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (directory / name).is_file():
            return directory / name
    return None


def has_idx_files(directory: Path) -> bool:
    return all(find_file(directory, stem) for pair in IDX_FILES.values() for stem in pair)


def load_idx_dir(directory: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{'train': (images [N, 28, 28] uint8, labels [N] int32), 'test': ...}"""
    out = {}
    for split, (images, labels) in IDX_FILES.items():
        x = read_idx(find_file(directory, images))
        y = read_idx(find_file(directory, labels)).astype(np.int32)
        if len(x) != len(y):
            raise DataError(f"{directory}: {len(x)} {split} images but {len(y)} labels")
        out[split] = (x, y)
    return out
