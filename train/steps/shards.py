"""Running a model over a batch stacked as shards (graph batches), inside the one step body.

A batch of graphs cannot be split across devices by slicing its arrays: node indices would point into
another device's slice. So graph batches arrive as D self-contained padded GraphsTuples stacked along a
leading axis (zoo.graph.stack_shards), with targets and masks [D, ...] to match. Sharding that axis gives
each device whole graphs, under jit over a Mesh and under pmap alike; the model runs once per shard
(jax.vmap, so the shards stay independent and local) and the step's masked sums see [D, ...] losses.
"""
from __future__ import annotations

from typing import Callable

import jax

from train.steps.rng import plain_key


def shard_keys(key: jax.Array, local_shards: int, axis_name: str | None) -> jax.Array:
    """One key per shard on this device: shard g of the global batch gets split(key, all shards)[g], under jit
    (all shards here) and under pmap (this device's run of them) alike."""
    key = plain_key(key)
    if axis_name is None:
        return jax.random.split(key, local_shards)
    devices = jax.lax.axis_size(axis_name)
    every = jax.random.split(key, devices * local_shards)
    return jax.lax.dynamic_slice_in_dim(every, jax.lax.axis_index(axis_name) * local_shards, local_shards)


def over_shards(apply: Callable) -> Callable:
    """`apply(variables, x, key, **kw)` -> the same on every shard of x, each shard with its own key.

    Mutable collections written per shard (e.g. BatchNorm statistics) come back averaged over the shards."""

    def run(variables, x, key=None, *, axis_name=None, **kwargs):
        shards = jax.tree.leaves(x)[0].shape[0]
        keys = None if key is None else shard_keys(key, shards, axis_name)
        result = jax.vmap(lambda xi, ki: apply(variables, xi, ki, **kwargs))(x, keys)
        if kwargs.get("mutable"):  # flax returns (outputs, written collections)
            outputs, written = result
            return outputs, jax.tree.map(lambda v: v.mean(axis=0), written)
        return result

    return run
