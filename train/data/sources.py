"""Random-access example sources and the `Dataset` that groups them into splits."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Protocol

import numpy as np

from zoo.errors import SettingError, ZooError

if TYPE_CHECKING:  # zoo.text is only needed by text data sets; keep image/tabular imports light
    from zoo.text import TextCodec


class MissingDataError(ZooError, FileNotFoundError):
    """The data set is not on this machine and could not be fetched."""


class Source(Protocol):
    def __len__(self) -> int: ...
    def take(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...  # x [n, ...] float32, y [n]


@dataclasses.dataclass
class ArraySource:
    """In-memory arrays; `take` is one vectorised gather."""

    x: np.ndarray
    y: np.ndarray
    scale: float = 1.0  # uint8 images stay uint8 in memory (4x smaller) and are scaled per batch

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise SettingError(f"{len(self.x)} inputs but {len(self.y)} targets")

    def __len__(self) -> int:
        return len(self.x)

    def take(self, indices):
        return self.x[indices].astype(np.float32) * np.float32(self.scale), self.y[indices]

    def subset(self, indices) -> "ArraySource":
        return ArraySource(self.x[indices], self.y[indices], self.scale)


@dataclasses.dataclass
class Dataset:
    name: str
    splits: dict[str, Source]  # 'train', 'test' and usually 'validation'
    # What one example is for: 'classification' | 'regression' | 'language_model' | 'seq2seq' | 'graph' |
    # 'corpus' (sentences, for word embeddings); a model's task states which it trains on.
    task: str
    num_classes: int  # 0 for regression; len(codec.vocab) for token-predicting tasks
    input_shape: tuple[int, ...]  # one example, after preprocessing
    num_targets: int = 1  # regression outputs
    class_names: list[str] | None = None
    description: str = ""
    codec: TextCodec | None = None  # text sets: the tokenizer + vocabulary built from the train split
    graph_level: str | None = None  # graph sets: 'graph', 'node' or 'link' (what one example is)
    fixed_splits: bool = False  # the splits are the data set's own: never carve validation out of train
    pad_id: int | None = None  # token sets: the id of padding (default: the codec's <pad>)
    extra: dict = dataclasses.field(default_factory=dict)  # properties a task derived (e.g. a corpus's vocab_size)

    def __post_init__(self):
        if self.pad_id is None and self.codec is not None:
            from zoo.text.vocab import PAD

            self.pad_id = self.codec.vocab.id(PAD)

    def properties(self) -> dict:
        """What the data set can tell a model (zoo.registry.DATA_PROPERTIES); None where it has no such thing."""
        import math

        return {"num_classes": self.num_classes if self.task != "regression" else None,
                "num_targets": self.num_targets if self.task == "regression" else None,
                "input_features": math.prod(self.input_shape) if self.codec is None and not self.graph_level else None,
                "vocab_size": len(self.codec.vocab) if self.codec is not None else None,
                "pad_id": self.pad_id, "graph_level": self.graph_level, **self.extra}

    def split(self, name: str) -> Source:
        if name not in self.splits:
            raise KeyError(f"{self.name} has no {name!r} split; it has {', '.join(self.splits)}")
        return self.splits[name]

    def summary(self) -> dict:
        return {"name": self.name, "task": self.task, "num_classes": self.num_classes,
                "input_shape": list(self.input_shape), **({"graph_level": self.graph_level} if self.graph_level else {}),
                **{f"{k}_size": len(v) for k, v in self.splits.items()}}


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(kept, held_out) sorted indices of a seeded random `fraction` of n examples; held_out None when 0."""
    if fraction <= 0:
        return np.arange(n), None
    if not 0 < fraction < 1:
        raise SettingError(f"validation fraction must be in [0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_held = max(1, int(round(n * fraction)))
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def carve_validation(train: Source, fraction: float, seed: int) -> tuple[Source, Source | None]:
    """Hold out a seeded random `fraction` of train as validation."""
    keep, held_out = split_indices(len(train), fraction, seed)
    if held_out is None:
        return train, None
    return subset(train, keep), subset(train, held_out)


def subset(source: Source, indices: np.ndarray) -> Source:
    """The examples of `source` at `indices`: the source's own `subset` if it has one (arrays materialise
    one contiguous copy, which gathers faster; graph sources keep their batching), else a `Subset` view."""
    if hasattr(source, "subset"):
        return source.subset(indices)
    return Subset(source, indices)


@dataclasses.dataclass
class Subset:
    """The examples of `source` at `indices`, for any source (arrays or TFDS)."""

    source: Source
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def take(self, indices):
        return self.source.take(self.indices[indices])
