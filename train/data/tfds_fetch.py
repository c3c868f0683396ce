"""`tfds.data_source` that fails fast without a network and leaves no half-downloaded files behind."""
from __future__ import annotations

import shutil
from pathlib import Path

from train.data import network


def how_to_get_offline(name: str) -> str:
    return (f"prepare tfds:{name} on a machine with network (`tfds build {name}`, or a zoo-train run on it), copy "
            f"its TFDS data folder (~/tensorflow_datasets by default, holding {name}/) to this machine and pass that "
            "folder as --data-dir (or set ZOO_DATA_DIR); or run where the network is reachable.")


def partial_downloads(download_dir: Path) -> set[Path]:
    """TFDS downloads each file into `NAME.tmp.UUID/` under downloads/ (or downloads/DATASET/) and renames it when
    complete; a failed or interrupted download leaves the folder behind."""
    return set(download_dir.glob("*.tmp.*")) | set(download_dir.glob("*/*.tmp.*"))


def data_source(name: str, split, data_dir: str | None, download: bool, builder=None):
    """tfds.data_source(name, split=split, ...), checking first that a download it needs can happen."""
    import tensorflow_datasets as tfds

    if not download:
        return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    builder = builder or tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        network.require_network(f"tfds:{name}", how_to_get_offline(name))
    download_dir = Path(builder.data_dir_root) / "downloads"
    before = partial_downloads(download_dir)
    try:
        return tfds.data_source(name, split=split, data_dir=data_dir, download=True)
    except BaseException:  # a Ctrl-C during TFDS's retries too
        for folder in partial_downloads(download_dir) - before:
            shutil.rmtree(folder, ignore_errors=True)
        raise
