"""Llama: causal, grouped-query attention, tied or untied head, left padding, bf16 decoding (the KV cache's
equality with the full forward pass is in test_generation.py, for GPT too)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.errors import InputShapeError, SettingError
from zoo.layers import KVCache
from zoo.text.llama import Llama

TINY = dict(vocab_size=61, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, mlp_dim=48, rope_base=500.0,
            max_positions=64)


def build(**changes):
    model = Llama(**{**TINY, **changes})
    ids = jax.random.randint(jax.random.key(0), (3, 12), 1, TINY["vocab_size"])
    return model, model.init(jax.random.key(1), ids), ids


def test_shapes_grouped_query_heads_and_tied_head():
    model, variables, ids = build()
    params = variables["params"]
    assert model.apply(variables, ids).shape == (3, 12, 61)
    attention = params["layers_0"]["attention"]
    assert attention["query"]["kernel"].shape == (32, 32) and attention["key"]["kernel"].shape == (32, 16)
    assert "bias" not in attention["query"] and "gate" in params["layers_0"]["mlp"]
    assert "lm_head" in params
    tied_model, tied, _ = build(tie_embeddings=True)
    assert "lm_head" not in tied["params"]
    # Tied: the logits are the final hidden states against the embedding table.
    table = tied["params"]["embed_tokens"]["embedding"]
    doubled = jax.tree.map(lambda x: x, tied)
    doubled["params"]["embed_tokens"]["embedding"] = table * 2.0
    assert not np.allclose(tied_model.apply(doubled, ids), tied_model.apply(tied, ids))


def test_later_tokens_do_not_change_earlier_logits():
    model, variables, ids = build()
    changed = ids.at[:, 7].set((ids[:, 7] + 1) % 60 + 1)
    before, after = model.apply(variables, ids), model.apply(variables, changed)
    np.testing.assert_allclose(before[:, :7], after[:, :7], atol=1e-6)
    assert not np.allclose(before[:, 7:], after[:, 7:])


def test_left_padded_prompt_gives_the_logits_it_gives_alone():
    model, variables, ids = build()
    alone = model.apply(variables, ids[:1, 4:])  # 8 real tokens
    padded = jnp.concatenate([jnp.zeros((1, 4), ids.dtype), ids[:1, 4:]], axis=1)
    mask = jnp.arange(12)[None] >= 4
    out = model.apply(variables, padded, attention_mask=mask)
    np.testing.assert_allclose(out[:, 4:], alone, atol=1e-5, rtol=1e-5)


def test_cache_works_under_jit_and_bf16_with_float32_params():
    model, variables, ids = build(dtype=jnp.bfloat16)
    cache = model.init_cache(3, 16)
    assert cache[0].key.dtype == jnp.bfloat16
    step = jax.jit(lambda v, i, c: model.apply(v, i, cache=c))
    logits, cache = step(variables, ids, cache)
    next_logits, cache = step(variables, jnp.argmax(logits[:, -1:], axis=-1).astype(jnp.int32), cache)
    assert int(cache[0].index) == 13 and next_logits.shape == (3, 1, 61)
    assert logits.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(next_logits)))
    assert jax.tree.leaves(variables)[0].dtype == jnp.float32


def test_bad_settings_and_caches_are_refused_with_the_fix():
    with pytest.raises(SettingError, match="num_kv_heads dividing"):
        build(num_kv_heads=3)
    model, variables, ids = build()
    with pytest.raises(SettingError, match="init_cache"):
        model.apply(variables, ids, cache=model.init_cache(3, 16)[:1])
    with pytest.raises(InputShapeError, match="do not fit"):
        model.apply(variables, ids, cache=model.init_cache(3, 8))
    with pytest.raises(InputShapeError, match="token ids"):
        model.apply(variables, jnp.ones((2, 3, 4)))
    with pytest.raises(InputShapeError, match="build the cache"):
        model.apply(variables, ids, cache=tuple(KVCache.empty(3, 16, 4, 8) for _ in range(2)))
