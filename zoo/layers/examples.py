"""Random batches a model accepts at its card's default settings: the families' `example` hooks.

Tests (the registry-wide sweep) and parameter counts use them; each family's cards name the one that fits.
"""
from __future__ import annotations

from typing import Any


def float_inputs(card, batch_size: int, seed: int = 0) -> tuple[Any, dict]:
    """Standard-normal floats [B, *example_input_shape]: features or images."""
    import jax

    return jax.random.normal(jax.random.key(seed), (batch_size, *card.example_input_shape)), {}


def token_ids(card, batch_size: int, seed: int = 0) -> tuple[Any, dict]:
    """Token ids [B, *example_input_shape] in [1, vocab_size): no padding."""
    import jax

    shape = (batch_size, *card.example_input_shape)
    return jax.random.randint(jax.random.key(seed), shape, 1, card.defaults["vocab_size"]), {}


def source_and_target_ids(card, batch_size: int, seed: int = 0) -> tuple[Any, dict]:
    """Source ids [B, S] and `targets` [B, S] (teacher forcing), no padding."""
    import jax

    key_x, key_y = jax.random.split(jax.random.key(seed))
    shape = (batch_size, *card.example_input_shape)
    return (jax.random.randint(key_x, shape, 1, card.defaults["src_vocab_size"]),
            {"targets": jax.random.randint(key_y, shape, 1, card.defaults["tgt_vocab_size"])})
