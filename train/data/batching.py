"""Seeded, resumable batching over any `Source`.

The order of epoch e is permutation(seed, e) and nothing else, so the batch
at (epoch, index) is a pure function of the seed: resuming needs only the
step counter, and every process of a multi-process run builds the same
global batch.
"""
from __future__ import annotations

import itertools
from typing import Iterator

import numpy as np

from zoo.errors import SettingError


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    if batch_size > num_examples:
        raise SettingError(f"batch size {batch_size} is larger than the {num_examples} training examples; "
                         f"use --batch-size {num_examples} or less")
    return num_examples // batch_size  # the last partial batch is dropped in training


def epoch_order(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def train_batches(source, batch_size: int, seed: int, epoch: int, start: int = 0, shards: int = 1) -> Iterator[dict]:
    """Batches `start`, `start+1`, ... of `epoch`: {'x', 'y', 'mask'}.

    Sources with a `collate` (graphs, see train.data.graph_sources) build their own batches, stacked as
    `shards` device shards; their random draws (negative sampling) are seeded by (seed, epoch, batch). Sources
    with a `for_epoch(seed, epoch)` give each epoch its own view first (word2vec's subsampled corpus)."""
    if hasattr(source, "for_epoch"):
        source = source.for_epoch(seed, epoch)
    order = epoch_order(len(source), seed, epoch)
    for i in range(start, steps_per_epoch(len(source), batch_size)):
        indices = order[i * batch_size:(i + 1) * batch_size]
        if hasattr(source, "collate"):
            yield source.collate(indices, shards, batch_size, np.random.default_rng([seed, epoch, i]))
            continue
        x, y = source.take(indices)
        yield {"x": x, "y": y, "mask": np.ones(len(y), np.float32)}


def eval_batches(source, batch_size: int, shards: int = 1) -> Iterator[dict]:
    """Every example once, in order; the last batch is padded (with copies) and its padding masked out."""
    n = len(source)
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        if hasattr(source, "collate"):
            yield source.collate(idx, shards, batch_size)  # held-out splits draw nothing
            continue
        x, y = source.take(idx)
        pad = batch_size - len(idx)
        mask = np.concatenate([np.ones(len(idx), np.float32), np.zeros(pad, np.float32)])
        if pad:  # copies of the first example, masked out: an all-padding token row could give NaN
            x = np.concatenate([x, np.repeat(x[:1], pad, axis=0)])
            y = np.concatenate([y, np.repeat(y[:1], pad, axis=0)])
        yield {"x": x, "y": y, "mask": mask}


def stream_batches(source, batch_size: int, seed: int, step: int, shards: int = 1) -> Iterator[dict]:
    """Batches from global step `step` on, pass after pass over the data (pass p in epoch_order(seed, p)): what an
    epoch of a fixed number of steps (Keras's steps_per_epoch) reads, carrying on where the last one stopped.
    With epochs of one pass each, step e * steps + i is batch i of epoch e, as `train_batches` gives it."""
    per_pass = steps_per_epoch(len(source), batch_size)
    first_pass, start = divmod(step, per_pass)
    for data_pass in itertools.count(first_pass):
        yield from train_batches(source, batch_size, seed, data_pass, start if data_pass == first_pass else 0,
                                 shards)
