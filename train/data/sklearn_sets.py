"""scikit-learn's bundled data sets, split 80/20 (stratified, fixed seed) with train-set scaling."""
from __future__ import annotations

import numpy as np
from sklearn import datasets as skd
from sklearn.model_selection import train_test_split

from train.data.sources import ArraySource, Dataset

NAMES = ("digits", "iris", "wine", "breast_cancer", "diabetes")
SPLIT_SEED = 0  # the test split is part of the data set's definition, not of a run's seed
TEST_FRACTION = 0.2


def load(name: str) -> Dataset:
    bunch = getattr(skd, f"load_{name}")()
    x = bunch.data.astype(np.float32)
    regression = name == "diabetes"
    y = bunch.target.astype(np.float32 if regression else np.int32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=None if regression else y)
    if name == "digits":  # 8x8 images with values 0..16: keep pixels, scale to [0, 1]
        x_tr, x_te = x_tr.reshape(-1, 8, 8) / 16, x_te.reshape(-1, 8, 8) / 16
    else:  # tabular features: standardise with train statistics only
        mean, std = x_tr.mean(0), x_tr.std(0) + 1e-8
        x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    if regression:
        y_mean, y_std = y_tr.mean(), y_tr.std()
        y_tr, y_te = (y_tr - y_mean) / y_std, (y_te - y_mean) / y_std
    names = [str(n) for n in getattr(bunch, "target_names", [])] or None
    return Dataset(
        name=name,
        splits={"train": ArraySource(x_tr.astype(np.float32), y_tr), "test": ArraySource(x_te.astype(np.float32), y_te)},
        task="regression" if regression else "classification",
        num_classes=0 if regression else int(y.max()) + 1,
        input_shape=tuple(x_tr.shape[1:]),
        class_names=None if regression else names,
        description=f"scikit-learn load_{name}, stratified 80/20 split (seed {SPLIT_SEED})",
    )
