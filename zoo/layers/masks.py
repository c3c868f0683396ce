"""Attention masks and the softmax that honours them: True = may attend, False = may not.

Masks broadcast against scores [B, H, Tq, Tk], so a padding mask [B, 1, 1, Tk] and a causal mask
[1, 1, Tq, Tk] combine with a plain `&` (see `combine_masks`). The convention is the opposite of
torch.nn.MultiheadAttention's `key_padding_mask` / boolean `attn_mask` (True = blocked): here a mask says
which positions are real, the way a data pipeline's `tokens != pad_id` does.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def masked_softmax(scores: jax.Array, mask: jax.Array | None) -> jax.Array:
    """scores [..., S], mask broadcastable to them (bool) -> weights [..., S] summing to 1 over allowed positions.

    Blocked positions get exactly 0 (not merely a tiny number), so whatever sits there cannot leak into the
    result even when it is huge; a row with no allowed position gets all zeros instead of torch's NaN."""
    scores = scores.astype(jnp.float32)  # softmax in float32 even under bf16 compute
    if mask is None:
        return jax.nn.softmax(scores, axis=-1)
    weights = jax.nn.softmax(jnp.where(mask, scores, jnp.finfo(jnp.float32).min), axis=-1)
    return jnp.where(mask, weights, 0.0)


def padding_mask(key_mask: jax.Array) -> jax.Array:
    """key_mask [B, Tk] (True at real tokens) -> [B, 1, 1, Tk]: every head and query sees only real keys."""
    return key_mask.astype(bool)[:, None, None, :]


def causal_mask(query_length: int, key_length: int | None = None) -> jax.Array:
    """[1, 1, Tq, Tk]: query i sees keys j <= i + (Tk - Tq).

    With Tk > Tq the queries are the last Tq positions of the key sequence (decoding after a prompt or a
    cache), so the offset keeps each query's view ending at its own position."""
    key_length = query_length if key_length is None else key_length
    query_positions = jnp.arange(query_length)[:, None] + (key_length - query_length)
    return (jnp.arange(key_length)[None, :] <= query_positions)[None, None]


def combine_masks(*masks: jax.Array | None) -> jax.Array | None:
    """The logical AND of the given masks (None ones skipped), broadcast together; None if none is given."""
    present = [m.astype(bool) for m in masks if m is not None]
    if not present:
        return None
    combined = present[0]
    for mask in present[1:]:
        combined = combined & mask
    return combined
