"""GPT-2 (Radford et al. 2019): a decoder-only, pre-LN Transformer language model.

    ids [B, T] --wte (tokens) + wpe (learned positions), dropout--> num_layers x EncoderBlock(causal, pre-LN,
    fused q/k/v, tanh GELU) --ln_f--> hidden [B, T, D] --h @ wte^T (tied head)--> next-token logits [B, T, V]

Parameter names follow Hugging Face's `GPT2LMHeadModel` (`wte`, `wpe`, `h_N`, `ln_f`); zoo.weights.hf_gpt2
maps the keys and GPT-2's Conv1D layout, so any GPT-2 checkpoint's `model.safetensors` loads into it.

Padding: with right padding nothing changes at real tokens (a query never sees a later key). With left
padding pass `attention_mask` (1 at real tokens): no real token attends to padding, and positions count real
tokens, so each text starts at position 0 (Hugging Face's GPT-2 needs position_ids for that). Decoding threads
one KV cache per block (zoo.layers.kv_cache) through `__call__`; `init_cache` builds them.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from zoo.errors import InputShapeError
from zoo.layers.kv_cache import KVCache, default_positions, run_causal_blocks
from zoo.layers.positions import LearnedPositions
from zoo.layers.transformer_blocks import causal_block_class
from zoo.sequence.tokens import check_token_ids
from zoo.weights.hf_gpt2 import gpt2_key, gpt2_state_dict

# zoo.weights.pretrained reads Hugging Face files into this module's models through this key mapping, after
# TORCH_STATE_DICT has turned GPT-2's Conv1D weights ([in, out]) into Linear's layout (zoo.weights.hf_gpt2).
TORCH_KEY_RENAME = gpt2_key
TORCH_STATE_DICT = gpt2_state_dict

INIT_STDDEV = 0.02  # GPT-2's initializer_range
# The projections that end a residual branch (GPT-2's attn.c_proj and mlp.c_proj, the blocks' out_kernel_init):
# their initial scale is divided by sqrt(2 * num_layers), so the residual stream's variance does not grow with
# depth (GPT-2 paper, section 2.3; nanoGPT's and Hugging Face's `c_proj.weight` rule).


class GPT(nn.Module):
    """ids int32 [B, T] -> next-token logits float32 [B, T, vocab_size]. Defaults: GPT-2 small (124M)."""

    vocab_size: int = 50257
    hidden_size: int = 768  # Hugging Face's n_embd
    num_layers: int = 12
    num_heads: int = 12
    mlp_dim: int | None = None  # default 4 * hidden_size (Hugging Face's n_inner)
    max_positions: int = 1024  # the context length (n_positions)
    norm_eps: float = 1e-5
    dropout_rate: float = 0.1  # on embeddings and each sublayer's output (GPT-2's embd_pdrop, resid_pdrop)
    attention_dropout_rate: float = 0.1  # on attention weights (attn_pdrop)
    tie_embeddings: bool = True  # logits = h @ wte^T; False adds an untied `lm_head` (no bias)
    remat: bool = False  # gradient checkpointing: recompute each block's activations in the backward pass
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def setup(self):
        common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        init = nn.initializers.normal(INIT_STDDEV)
        residual_init = nn.initializers.normal(INIT_STDDEV / math.sqrt(2 * self.num_layers))
        self.wte = nn.Embed(self.vocab_size, self.hidden_size, embedding_init=init, **common)
        self.wpe = LearnedPositions(self.max_positions, init_stddev=INIT_STDDEV, **common)
        self.drop = nn.Dropout(self.dropout_rate)
        # GPT-2's block: pre-LN, one fused c_attn projection, tanh-approximate GELU ('gelu_new'), no dropout on
        # the MLP's hidden activations (only after c_proj, which the block's dropout_rate covers).
        block = causal_block_class(self.remat)
        self.h = [block(num_heads=self.num_heads, mlp_dim=self.mlp_dim or 4 * self.hidden_size,
                        causal=True, norm_first=True, fused_qkv=True, activation="gelu_tanh",
                        norm_eps=self.norm_eps, dropout_rate=self.dropout_rate,
                        attention_dropout_rate=self.attention_dropout_rate, kernel_init=init,
                        out_kernel_init=residual_init, **common)
                  for _ in range(self.num_layers)]
        self.ln_f = nn.LayerNorm(epsilon=self.norm_eps, **common)
        if not self.tie_embeddings:
            self.lm_head = nn.Dense(self.vocab_size, use_bias=False, kernel_init=init, **common)

    def __call__(self, ids, *, train: bool = False, attention_mask=None, positions=None,
                 cache: Sequence[KVCache] | None = None):
        """ids [B, T]; attention_mask [B, T] (1/True at real tokens; default: all real); positions int [B, T]
        or [T] (default: each row's count of real tokens before it, continuing the cache). Returns logits
        float32 [B, T, V], or (logits, new caches) with `cache` (one KVCache per block, `init_cache`)."""
        out = self.hidden(ids, train=train, attention_mask=attention_mask, positions=positions, cache=cache)
        if cache is None:
            return self.logits(out)
        return self.logits(out[0]), out[1]

    def hidden(self, ids, *, train: bool = False, attention_mask=None, positions=None,
               cache: Sequence[KVCache] | None = None):
        """The final hidden states, after ln_f: [B, T, D] in the compute dtype (with `cache`: and new caches)."""
        self._check(ids, attention_mask, positions, cache)
        real = jnp.ones(ids.shape, bool) if attention_mask is None else attention_mask.astype(bool)
        if positions is None:
            positions = default_positions(real, cache)
        x = self.drop(self.wpe(self.wte(ids), positions), deterministic=not train)  # [B, T, D]
        out = run_causal_blocks(self.h, x, real, positions, train=train, cache=cache, model="GPT")
        return self.ln_f(out) if cache is None else (self.ln_f(out[0]), out[1])

    def logits(self, hidden):
        """hidden [B, T, D] -> logits float32 [B, T, V]: the tied head (Embed.attend: h @ wte^T) or lm_head."""
        head = self.wte.attend(hidden) if self.tie_embeddings else self.lm_head(hidden)
        return head.astype(jnp.float32)

    def init_cache(self, batch: int, slots: int, dtype: Any = None) -> tuple[KVCache, ...]:
        """Empty KV caches for `batch` rows of up to `slots` tokens (prompt bucket + new tokens), one per block."""
        head_dim = self.hidden_size // self.num_heads
        dtype = dtype or self.dtype or jnp.float32
        return tuple(KVCache.empty(batch, slots, self.num_heads, head_dim, dtype) for _ in range(self.num_layers))

    def _check(self, ids, attention_mask, positions, cache):
        check_token_ids(ids, "GPT", "ids")
        if cache is None and ids.shape[1] > self.max_positions:
            raise InputShapeError(f"GPT: {ids.shape[1]} tokens, but the model has {self.max_positions} positions "
                                  f"(its context); crop the input to its last {self.max_positions} tokens or create "
                                  f"the model with max_positions >= {ids.shape[1]}")
        if attention_mask is not None and tuple(attention_mask.shape) != tuple(ids.shape):
            raise InputShapeError(f"GPT: attention_mask must have the shape of ids {tuple(ids.shape)} (1 at real "
                                  f"tokens), got {tuple(attention_mask.shape)}")
        if positions is not None and tuple(positions.shape) not in (tuple(ids.shape), tuple(ids.shape[1:])):
            raise InputShapeError(f"GPT: positions must be [B, T] = {tuple(ids.shape)} or [T], got "
                                  f"{tuple(positions.shape)}")

