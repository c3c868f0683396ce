"""Llama (Touvron et al. 2023), the decoder-only language model of Llama 2/3, Mistral and SmolLM2.

    ids [B, T] --embed_tokens--> N x EncoderBlock(causal, pre-norm RMSNorm, rotary q/k, grouped-query attention,
    SwiGLU, no biases) --norm (RMSNorm)--> h [B, T, D] --lm_head (or embed_tokens^T when tied)--> logits [B, T, V]

Parameter names follow zoo.layers (`layers_N/attention/query`, `layers_N/mlp/gate`); zoo.weights.hf_llama maps
Hugging Face's `model.layers.N.self_attn.q_proj` onto them, and zoo.weights.gguf reads GGUF files into
Hugging Face's names.

Positions count real tokens: a left-padded row's first real token is position 0, as in Hugging Face's
`generate`, so a prompt gives the same logits padded or alone. Decoding threads one KV cache per layer
(zoo.layers.kv_cache) through `__call__`; `init_cache` builds them.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from zoo.errors import SettingError
from zoo.layers.kv_cache import KVCache, default_positions, run_causal_blocks
from zoo.layers.norms import RMSNorm
from zoo.layers.transformer_blocks import causal_block_class
from zoo.sequence.tokens import check_token_ids
from zoo.weights.hf_llama import llama_key

# zoo.weights.pretrained reads Hugging Face (and, through zoo.weights.gguf, GGUF) Llama files with this mapping.
TORCH_KEY_RENAME = llama_key


class Llama(nn.Module):
    """ids int32 [B, T] -> logits float32 [B, T, V]; with `cache` (a tuple of KVCache, one per layer) returns
    (logits, new caches)."""

    vocab_size: int = 32000
    hidden_size: int = 4096
    num_layers: int = 32
    num_heads: int = 32
    num_kv_heads: int | None = None  # grouped-query attention; None = num_heads
    head_dim: int | None = None  # None = hidden_size // num_heads
    mlp_dim: int = 11008  # SwiGLU hidden width (Hugging Face's intermediate_size)
    rope_base: float = 10000.0
    norm_eps: float = 1e-6
    max_positions: int = 2048  # context length the model was trained for (checked when decoding)
    tie_embeddings: bool = False  # the head is the embedding table (SmolLM2, Llama 3.2 1B)
    dropout_rate: float = 0.0  # on each sublayer's output; Llama itself uses none
    remat: bool = False  # gradient checkpointing: recompute each block's activations in the backward pass
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def setup(self):
        if self.hidden_size % self.num_heads and self.head_dim is None:
            raise SettingError(f"Llama: hidden_size {self.hidden_size} does not split into {self.num_heads} heads; "
                               "set head_dim or choose num_heads dividing it")
        common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        init = nn.initializers.normal(0.02)  # Hugging Face's initializer_range
        self.embed_tokens = nn.Embed(self.vocab_size, self.hidden_size, embedding_init=init, **common)
        block = causal_block_class(self.remat)
        self.layers = [block(num_heads=self.num_heads, num_kv_heads=self.num_kv_heads, head_dim=self.head_dim,
                             mlp_dim=self.mlp_dim, causal=True, norm_first=True, norm="rmsnorm",
                             norm_eps=self.norm_eps, activation="swiglu", use_bias=False,
                             rotary_base=self.rope_base, dropout_rate=self.dropout_rate, kernel_init=init,
                             **common)
                       for _ in range(self.num_layers)]
        self.norm = RMSNorm(self.norm_eps, **common)
        if not self.tie_embeddings:
            self.lm_head = nn.Dense(self.vocab_size, use_bias=False, kernel_init=init, **common)

    def __call__(self, ids, *, attention_mask=None, positions=None, train: bool = False,
                 cache: Sequence[KVCache] | None = None):
        """attention_mask [B, T] (True/1 at real tokens; default all real: a padding id such as SmolLM2's 2 is
        also a real token, <|im_end|>, so padding is never guessed from ids); positions int [B, T] (default: each
        row's count of real tokens before it, continuing the cache)."""
        check_token_ids(ids, "Llama", "ids")
        real = jnp.ones(ids.shape, bool) if attention_mask is None else attention_mask.astype(bool)
        if positions is None:
            positions = default_positions(real, cache)
        out = run_causal_blocks(self.layers, self.embed_tokens(ids), real, positions, train=train, cache=cache,
                                model="Llama")
        if cache is None:
            return self.logits(self.norm(out))
        hidden, new_cache = out
        return self.logits(self.norm(hidden)), new_cache

    def logits(self, hidden):
        """hidden [..., D] -> float32 logits [..., V] through the (tied or own) head."""
        head = self.embed_tokens.attend(hidden) if self.tie_embeddings else self.lm_head(hidden)
        return head.astype(jnp.float32)

    def init_cache(self, batch: int, slots: int, dtype: Any = None) -> tuple[KVCache, ...]:
        """Empty KV caches for `batch` rows of up to `slots` tokens (prompt bucket + new tokens); keys and values
        in `dtype` (default the compute dtype, float32 without one)."""
        head_dim = self.head_dim or self.hidden_size // self.num_heads
        kv_heads = self.num_kv_heads or self.num_heads
        dtype = dtype or self.dtype or jnp.float32
        return tuple(KVCache.empty(batch, slots, kv_heads, head_dim, dtype) for _ in range(self.num_layers))

