"""Per-step random keys that give every device layout the same draws.

A step's key is fold_in(run key, step): a pure function of the run's seed and the step, so a resumed run
replays the same dropout masks and crops. Under `jax.jit` the arrays are global and JAX's partitionable
threefry draws the same bits however the batch is sharded, so one device and eight agree.

Under `jax.pmap` each device holds only its rows of the global batch. `device_rows_key` gives it a key whose
draws are exactly its rows of the draws the global batch would get: the key carries the device's index, and
every draw of shape [b, ...] is taken as rows index*b ... (index+1)*b of the same draw of shape [D*b, ...].
So dropout masks, teacher-forcing coins and augmentation offsets, which are drawn with the batch as leading
axis, match jit's bit for bit, at the price of each device drawing the whole batch's bits (the pmap path is
kept for its users; jit over a Mesh is the default). Draws without a batch axis (scalars) are the same on
every device, as under jit.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.extend import random as jax_random

THREEFRY = jax_random.threefry_prng_impl

# Independent streams of one step key (fold_in(key, stream)); dropout reads the step key itself.
AUGMENT_STREAM = 1
SAMPLE_STREAM = 2  # tasks that draw their own noise (a generator's latents, negatives)


def step_key(rng_data: jax.Array, step: jax.Array, axis_name: str | None = None) -> jax.Array:
    """The key of this step for the global batch; under pmap (`axis_name`), this device's rows of it."""
    key = jax.random.fold_in(jax.random.wrap_key_data(rng_data), step)
    return key if axis_name is None else device_rows_key(key, axis_name)


def device_rows_key(key: jax.Array, axis_name: str) -> jax.Array:
    """`key`, drawing this device's rows of what it would draw for the batch of all `axis_name` devices."""
    index = jax.lax.axis_index(axis_name).astype(jnp.uint32)
    data = jnp.concatenate([jax.random.key_data(key), index[None]])
    return jax.random.wrap_key_data(data, impl=_rows_impl(jax.lax.axis_size(axis_name)))


def plain_key(key: jax.Array) -> jax.Array:
    """The threefry key underneath: for draws that are not split by rows (a whole graph shard's own key)."""
    data = jax.random.key_data(key)
    return jax.random.wrap_key_data(data[..., :2], impl="threefry2x32") if data.shape[-1] == 3 else key


@functools.lru_cache(maxsize=None)
def _rows_impl(devices: int):
    """A PRNG implementation over key data [k1, k2, device index]: threefry for splitting and folding (the
    index rides along), and for bits, this device's rows of the draw for `devices` times as many rows."""

    def seed(seed_value):
        return jnp.concatenate([THREEFRY.seed(seed_value), jnp.zeros((1,), jnp.uint32)])

    def split(key, shape):
        return jnp.concatenate([THREEFRY.split(key[:2], shape), jnp.broadcast_to(key[2:], (*shape, 1))], axis=-1)

    def fold_in(key, data):
        return jnp.concatenate([THREEFRY.fold_in(key[:2], data), key[2:]])

    def random_bits(key, bit_width, shape):
        if not shape:
            return THREEFRY.random_bits(key[:2], bit_width, shape)
        rows = shape[0]
        whole = THREEFRY.random_bits(key[:2], bit_width, (rows * devices, *shape[1:]))
        return jax.lax.dynamic_slice_in_dim(whole, key[2].astype(jnp.int32) * rows, rows, axis=0)

    return jax_random.define_prng_impl(key_shape=(3,), seed=seed, split=split, random_bits=random_bits,
                                       fold_in=fold_in, name=f"threefry_rows_of_{devices}_devices")
