"""Any TFDS data set through `tfds.data_source` (random access, no TensorFlow needed)."""
from __future__ import annotations

import numpy as np

from train.data.sources import Dataset


class TFDSSource:
    def __init__(self, source, x_key: str, y_key: str, scale: float):
        self.source, self.x_key, self.y_key, self.scale = source, x_key, y_key, scale

    def __len__(self) -> int:
        return len(self.source)

    def take(self, indices):
        records = [self.source[int(i)] for i in indices]
        x = np.stack([r[self.x_key] for r in records]).astype(np.float32) * np.float32(self.scale)
        y = np.asarray([r[self.y_key] for r in records]).astype(np.int32)
        return x, y


def load(name: str, data_dir: str | None, download: bool) -> Dataset:
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    x_key, y_key = builder.info.supervised_keys or ("image", "label")
    features = builder.info.features
    if not hasattr(features[y_key], "num_classes"):
        raise ValueError(f"tfds:{name} target {y_key!r} is not a class label; zoo's TFDS path serves classification")
    split_names = {"train": "train", "test": "test"}
    if "validation" in builder.info.splits:
        split_names["validation"] = "validation"
    sources = tfds.data_source(name, split=list(split_names.values()), data_dir=data_dir, download=download)
    is_image = features[x_key].np_dtype == np.uint8  # .dtype would import TensorFlow
    splits = {k: TFDSSource(s, x_key, y_key, 1 / 255 if is_image else 1.0) for k, s in zip(split_names, sources)}
    return Dataset(
        name=f"tfds:{name}",
        splits=splits,
        task="classification",
        num_classes=int(features[y_key].num_classes),
        input_shape=tuple(features[x_key].shape),
        class_names=list(features[y_key].names),
        description=f"TFDS {name} via tfds.data_source",
    )
