"""The key-value cache of autoregressive decoding: each self-attention layer keeps the keys and values of the
tokens it has seen, so a new token costs one query against them instead of a forward pass over the prefix.

Shapes are fixed for the whole generation (slots S = prompt bucket + new tokens), so prefill compiles once per
prompt bucket and the one-token step compiles once. Slots fill left to right; `index` counts the filled ones,
shared by the batch. Prompts of different lengths are left-padded: their padding slots stay `valid=False` and
are never attended to, and each row's positions count only its real tokens (`next_positions`), so a padded
prompt decodes exactly as it would alone.

    cache = KVCache.empty(batch=2, slots=96, kv_heads=3, head_dim=64)
    out, cache = attention(x_prefill, key_mask=prompt_mask, cache=cache)  # writes slots 0..T-1
    out, cache = attention(x_next, cache=cache)                           # writes slot T, and so on
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.struct
import jax
import jax.numpy as jnp

from zoo.errors import InputShapeError, SettingError


@flax.struct.dataclass
class KVCache:
    """One attention layer's cache (a pytree, so it passes through jit, scan and while_loop)."""

    key: jax.Array  # [B, S, Hkv, Dh], after rotary
    value: jax.Array  # [B, S, Hkv, Dv]
    valid: jax.Array  # bool [B, S]: the slot holds a real token (filled and not padding)
    index: jax.Array  # int32 []: slots filled so far; the next tokens go to index, index + 1, ...

    @classmethod
    def empty(cls, batch: int, slots: int, kv_heads: int, head_dim: int, dtype: Any = jnp.float32) -> "KVCache":
        zeros = jnp.zeros((batch, slots, kv_heads, head_dim), dtype)
        return cls(zeros, zeros, jnp.zeros((batch, slots), bool), jnp.zeros((), jnp.int32))

    @property
    def slots(self) -> int:
        return self.key.shape[1]

    def lengths(self) -> jax.Array:
        """int32 [B]: real tokens cached per row (the position the row's next token takes)."""
        return jnp.sum(self.valid, axis=1, dtype=jnp.int32)

    def append(self, key: jax.Array, value: jax.Array, real: jax.Array | None) -> "KVCache":
        """Write T new tokens' key [B, T, Hkv, Dh] and value at slots index..index+T-1; `real` bool [B, T]
        marks which of them are tokens (None: all). Writing past the last slot is an error when traced with a
        concrete index, and otherwise clamps (jax.lax.dynamic_update_slice), so callers size S for the run."""
        batch, steps = key.shape[:2]
        if key.shape[0] != self.key.shape[0] or key.shape[2:] != self.key.shape[2:]:
            raise InputShapeError(f"KVCache holds keys [B, S, Hkv, Dh] = {tuple(self.key.shape)}; new keys "
                                  f"{tuple(key.shape)} differ in B, Hkv or Dh: build the cache for this model and "
                                  "batch")
        if steps > self.slots:
            raise InputShapeError(f"{steps} new tokens do not fit a KV cache of {self.slots} slots: build it with "
                                  "slots >= prompt length + new tokens")
        real = jnp.ones((batch, steps), bool) if real is None else real.astype(bool)
        at = (0, self.index, 0, 0)
        return KVCache(
            jax.lax.dynamic_update_slice(self.key, key.astype(self.key.dtype), at),
            jax.lax.dynamic_update_slice(self.value, value.astype(self.value.dtype), at),
            jax.lax.dynamic_update_slice(self.valid, real, (0, self.index)),
            self.index + steps,
        )

    def attention_mask(self, steps: int) -> jax.Array:
        """bool [B, 1, T, S] for the T queries just appended (after `append`): query i, in slot index - T + i,
        sees the valid slots up to its own."""
        query_slots = self.index - steps + jnp.arange(steps)  # [T]
        causal = jnp.arange(self.slots)[None, :] <= query_slots[:, None]  # [T, S]
        return self.valid[:, None, None, :] & causal[None, None]


def next_positions(lengths: jax.Array, real: jax.Array) -> jax.Array:
    """lengths int [B] (real tokens already cached), real bool [B, T] -> positions int32 [B, T] of the new
    tokens: each real token takes the row's next position; padding takes the position of the token before it
    (it is masked out; any in-range value serves)."""
    return lengths[:, None] + jnp.maximum(jnp.cumsum(real.astype(jnp.int32), axis=1) - 1, 0)


def positions_from_mask(attention_mask: jax.Array) -> jax.Array:
    """attention_mask [B, T] (True/1 at real tokens) -> positions int32 [B, T] counting real tokens from 0: what
    left-padded rows need to match their unpadded text (padding before them gets 0)."""
    real = attention_mask.astype(bool)
    return next_positions(jnp.zeros(real.shape[0], jnp.int32), real)


def run_causal_blocks(blocks: Sequence[Any], x: jax.Array, real: jax.Array, positions: jax.Array, *, train: bool,
                      cache: Sequence[KVCache] | None, model: str):
    """x [B, T, D] through a decoder-only model's blocks (zoo.layers.transformer_blocks.causal_block_class: called
    positionally, so a rematerialised block holds `train` static), each with its own layer's cache when decoding.
    Returns x, or (x, new caches) with a cache."""
    if cache is None:
        for block in blocks:
            x = block(x, real, positions, train)
        return x
    if len(cache) != len(blocks):
        raise SettingError(f"{model}: got {len(cache)} KV caches for {len(blocks)} layers; build them with "
                           "model.init_cache(batch, slots)")
    new_cache = []
    for block, layer_cache in zip(blocks, cache):
        x, layer_cache = block(x, real, positions, train, layer_cache)
        new_cache.append(layer_cache)
    return x, tuple(new_cache)


def default_positions(real: jax.Array, cache: Sequence[KVCache] | None) -> jax.Array:
    """Positions of new tokens real [B, T]: counting each row's real tokens, after those already cached."""
    cached = cache[0].lengths() if cache else jnp.zeros(real.shape[0], jnp.int32)
    return next_positions(cached, real)
