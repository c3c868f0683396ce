"""The catalogue of named data sets: name -> loader of a `Dataset`. Loaders register themselves here (see
train.data.registry for the built-in ones); `load_dataset` looks names up."""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

from train.data.sources import Dataset
from train.data.text import TextOptions


@dataclasses.dataclass(frozen=True)
class DataRequest:
    data_dir: str | None
    download: bool
    text: TextOptions = TextOptions()
    validation_fraction: float = 0.1  # text sets carve validation themselves, before building the vocabulary
    seed: int = 0


LOADERS: dict[str, Callable[[DataRequest], Dataset]] = {}


def register_dataset(name: str):
    def wrap(loader):
        LOADERS[name] = loader
        return loader
    return wrap


def list_datasets() -> list[str]:
    return sorted(LOADERS)


def offline() -> bool:
    return os.environ.get("ZOO_OFFLINE", "").lower() in ("1", "true", "yes")
