"""Scaled dot-product attention and multi-head attention (Vaswani et al. 2017), self or cross.

One implementation for every Transformer in the zoo: BERT (post-LN encoder, padding masks), GPT (causal,
fused QKV), ViT (no mask), encoder-decoders (cross attention) and Llama-style models (rotary positions,
grouped-query attention). Decoding reads and extends a KV cache (zoo.layers.kv_cache).
Layouts: token vectors [B, T, D]; per-head tensors [B, T, H, Dh]; scores and weights [B, H, Tq, Tk]; masks
are bool, True = may attend, broadcastable to [B, H, Tq, Tk] (zoo.layers.masks).

Under bf16 compute the projections and the two matmuls run in bf16 while the softmax runs in float32.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import InputShapeError, SettingError
from zoo.layers.kv_cache import KVCache
from zoo.layers.masks import causal_mask, combine_masks, masked_softmax, padding_mask
from zoo.layers.rotary import apply_rotary


def attention_weights(query: jax.Array, key: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """query [B, Tq, H, Dh], key [B, Tk, H, Dh] -> softmax(q k^T / sqrt(Dh)) float32 [B, H, Tq, Tk].

    Blocked positions weigh exactly 0 and a query with nothing to attend to gets all zeros (masked_softmax)."""
    query = query * query.shape[-1] ** -0.5  # scale q before the product, as torch does (a weak float: q's dtype)
    scores = jnp.einsum("bqhd,bkhd->bhqk", query, key)
    return masked_softmax(scores, mask)


def dot_product_attention(query: jax.Array, key: jax.Array, value: jax.Array, mask: jax.Array | None = None, *,
                          dropout_rate: float = 0.0, dropout_rng: jax.Array | None = None,
                          deterministic: bool = True) -> tuple[jax.Array, jax.Array]:
    """query [B, Tq, H, Dh], key [B, Tk, H, Dh], value [B, Tk, H, Dv] -> (out [B, Tq, H, Dv], weights).

    `weights` [B, H, Tq, Tk] float32 are taken before dropout (what an attention map shows). Dropout zeroes
    whole query-key links and rescales by 1/(1 - rate), drawn from `dropout_rng` unless `deterministic`."""
    weights = attention_weights(query, key, mask)
    used = weights
    if not deterministic and dropout_rate > 0.0:
        if dropout_rng is None:
            raise SettingError("dot_product_attention: dropout needs a dropout_rng when deterministic=False")
        keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_rate, weights.shape)
        used = jnp.where(keep, weights / (1.0 - dropout_rate), 0.0)
    out = jnp.einsum("bhqk,bkhd->bqhd", used.astype(value.dtype), value)
    return out, weights


class MultiHeadAttention(nn.Module):
    """inputs_q [B, Tq, D] (and inputs_kv [B, Tk, Dkv] for cross attention) -> [B, Tq, out_features or D].

    Parameters: `query` Dense [D, H*Dh], `key` and `value` [D, Hkv*Dh] (or one `qkv` [D, (H + 2 Hkv)*Dh], the
    layout of torch's in_proj_weight.T and GPT-2's c_attn, when `fused_qkv`), and `out` Dense [H*Dh, D]. Heads
    are contiguous blocks of Dh features, as in torch.nn.MultiheadAttention. With num_kv_heads < num_heads
    (grouped-query attention, Ainslie et al. 2023) query head h reads key/value head h // (H / Hkv), as
    Hugging Face's repeat_kv does."""

    num_heads: int
    num_kv_heads: int | None = None  # default num_heads; 1 is multi-query attention
    head_dim: int | None = None  # default D // num_heads
    out_features: int | None = None  # default D
    fused_qkv: bool = False  # one projection for q, k and v: self-attention only
    use_bias: bool = True
    dropout_rate: float = 0.0  # on the attention weights, in training
    rotary_base: float | None = None  # rotate q and k by their positions (RoPE, Llama's 10000.0); self-attention
    kernel_init: Any = nn.initializers.lecun_normal()
    out_kernel_init: Any = None  # the `out` projection's (GPT-2 scales it by depth); None = kernel_init
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, inputs_q, inputs_kv=None, *, key_mask=None, causal: bool = False, mask=None, positions=None,
                 train: bool = False, return_weights: bool = False, cache: KVCache | None = None):
        """key_mask [B, Tk] bool, True at real tokens (False = padding); causal: query i sees keys <= i;
        mask: any further bool mask broadcastable to [B, H, Tq, Tk]. The three combine (logical AND).
        positions int [B, Tq] or [Tq]: for the rotary angles (default 0..Tq-1).
        Returns the output, or (output, weights float32 [B, H, Tq, Tk]) with `return_weights`.

        With a `cache` (self-attention only) the new tokens' keys and values are appended to it and the queries
        attend, causally, to every valid cached slot; key_mask then marks which new tokens are real, and the
        result is (output, new cache) (or (output, weights [B, H, Tq, S], new cache))."""
        self_attention = inputs_kv is None
        inputs_kv = inputs_q if self_attention else inputs_kv
        heads, kv_heads, head_dim = self._check(inputs_q, inputs_kv, key_mask, self_attention, cache)
        dense = dict(use_bias=self.use_bias, kernel_init=self.kernel_init, dtype=self.dtype,
                     param_dtype=self.param_dtype)
        width, kv_width = heads * head_dim, kv_heads * head_dim

        def split_heads(x, count):  # [B, T, count*Dh] -> [B, T, count, Dh]
            return x.reshape(*x.shape[:-1], count, head_dim)

        if self.fused_qkv:
            qkv = nn.Dense(width + 2 * kv_width, name="qkv", **dense)(inputs_q)
            query, key, value = jnp.split(qkv, [width, width + kv_width], axis=-1)
        else:
            query = nn.Dense(width, name="query", **dense)(inputs_q)
            key = nn.Dense(kv_width, name="key", **dense)(inputs_kv)
            value = nn.Dense(kv_width, name="value", **dense)(inputs_kv)
        query, key, value = split_heads(query, heads), split_heads(key, kv_heads), split_heads(value, kv_heads)
        if self.rotary_base is not None:
            query = apply_rotary(query, positions, self.rotary_base)
            key = apply_rotary(key, positions, self.rotary_base)

        if cache is not None:
            cache = cache.append(key, value, key_mask)
            key, value = cache.key, cache.value
            full_mask = combine_masks(cache.attention_mask(inputs_q.shape[1]), mask)
        else:
            full_mask = combine_masks(
                None if key_mask is None else padding_mask(key_mask),
                causal_mask(inputs_q.shape[1], inputs_kv.shape[1]) if causal else None,
                mask,
            )
        if kv_heads != heads:  # each key/value head serves heads // kv_heads consecutive query heads
            key = jnp.repeat(key, heads // kv_heads, axis=2)
            value = jnp.repeat(value, heads // kv_heads, axis=2)
        use_dropout = train and self.dropout_rate > 0.0
        out, weights = dot_product_attention(
            query, key, value, full_mask, dropout_rate=self.dropout_rate,
            dropout_rng=self.make_rng("dropout") if use_dropout else None, deterministic=not use_dropout)
        dense["kernel_init"] = self.out_kernel_init or self.kernel_init
        out = nn.Dense(self.out_features or inputs_q.shape[-1], name="out", **dense)(
            out.reshape(*out.shape[:-2], width))
        result = (out, weights) if return_weights else (out,)
        if cache is not None:
            result = (*result, cache)
        return result if len(result) > 1 else out

    def _check(self, inputs_q, inputs_kv, key_mask, self_attention, cache) -> tuple[int, int, int]:
        if inputs_q.ndim != 3 or inputs_kv.ndim != 3 or inputs_q.shape[0] != inputs_kv.shape[0]:
            raise InputShapeError(f"MultiHeadAttention expects inputs_q [B, Tq, D] and inputs_kv [B, Tk, Dkv] with "
                                  f"the same B; got {tuple(inputs_q.shape)} and {tuple(inputs_kv.shape)}")
        if cache is not None and not self_attention:
            raise SettingError("MultiHeadAttention: a KV cache is for self-attention while decoding; cross "
                               "attention's keys come from a fixed memory, so call it without a cache")
        if key_mask is not None and tuple(key_mask.shape) != tuple(inputs_kv.shape[:2]):
            raise InputShapeError(f"MultiHeadAttention: key_mask must be [B, Tk] = {tuple(inputs_kv.shape[:2])} "
                                  f"(True at real tokens), got {tuple(key_mask.shape)}")
        if not self_attention and self.fused_qkv:
            raise SettingError("MultiHeadAttention: fused_qkv projects one input to q, k and v, so it serves "
                             "self-attention only; use fused_qkv=False for cross attention")
        if not self_attention and self.rotary_base is not None:
            raise SettingError("MultiHeadAttention: rotary positions are for self-attention (queries and keys of "
                             "one sequence); use rotary_base=None for cross attention")
        width = inputs_q.shape[-1]
        if self.head_dim is None and width % self.num_heads:
            raise SettingError(f"MultiHeadAttention: width {width} does not split into {self.num_heads} heads; "
                             f"choose num_heads dividing it or set head_dim")
        kv_heads = self.num_kv_heads or self.num_heads
        if self.num_heads % kv_heads:
            raise SettingError(f"MultiHeadAttention: {self.num_heads} query heads do not share {kv_heads} key/value "
                               "heads evenly; choose num_kv_heads dividing num_heads")
        return self.num_heads, kv_heads, self.head_dim or width // self.num_heads
