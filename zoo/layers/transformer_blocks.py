"""Transformer blocks: an encoder block (self-attention + MLP) and a decoder block (causal self-attention +
cross attention over an encoder's memory + MLP), each sublayer wrapped in a residual connection.

    post-LN (norm_first=False; Vaswani et al. 2017, BERT):  x = norm(x + dropout(sublayer(x)))
    pre-LN  (norm_first=True; GPT-2, ViT, Llama):           x = x + dropout(sublayer(norm(x)))

The fields mirror torch.nn.TransformerEncoderLayer / TransformerDecoderLayer, so `norm_first` means the same
in both. A decoder-only language model (GPT, Llama) stacks EncoderBlock(causal=True, norm_first=True); Llama
adds norm='rmsnorm', activation='swiglu', use_bias=False, rotary_base=10000.0 and num_kv_heads (grouped-query
attention). Pre-LN stacks need one final norm after the last block, which belongs to the model, not to the block.
Decoding passes each EncoderBlock its layer's KV cache (zoo.layers.kv_cache) and gets it back, extended.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from zoo.errors import InputShapeError
from zoo.layers.attention import MultiHeadAttention
from zoo.layers.feed_forward import feed_forward
from zoo.layers.kv_cache import KVCache
from zoo.layers.norms import norm_layer


class _Block(nn.Module):
    """The fields an encoder and a decoder block share."""

    num_heads: int
    mlp_dim: int  # hidden width of the feed-forward network (torch's dim_feedforward)
    num_kv_heads: int | None = None  # grouped-query attention in the self-attention (default num_heads)
    norm_first: bool = False  # pre-LN if True, post-LN if False
    activation: str = "gelu"  # exact-erf 'gelu' | 'gelu_tanh' | 'relu' | 'silu' | 'swiglu'
    norm: str = "layernorm"  # 'layernorm' | 'rmsnorm'
    norm_eps: float = 1e-5  # torch's LayerNorm default; BERT uses 1e-12
    dropout_rate: float = 0.0  # on each sublayer's output before the residual sum
    attention_dropout_rate: float = 0.0  # on the attention weights
    mlp_dropout_rate: float = 0.0  # on the feed-forward hidden activations (torch applies its `dropout` there too)
    use_bias: bool = True  # in the attention and feed-forward projections
    fused_qkv: bool = False  # one q/k/v projection in the self-attention (GPT-2's c_attn)
    head_dim: int | None = None  # default D // num_heads
    rotary_base: float | None = None  # RoPE in the self-attention (Llama: 10000.0)
    kernel_init: Any = None  # every projection's; None = LeCun normal (flax's Dense default)
    out_kernel_init: Any = None  # the projections that end a residual branch (attention out, mlp down)
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def _norm(self, name: str) -> nn.Module:
        return norm_layer(self.norm, self.norm_eps, dtype=self.dtype, param_dtype=self.param_dtype, name=name)

    def _attention(self, name: str, *, self_attention: bool) -> MultiHeadAttention:
        return MultiHeadAttention(
            num_heads=self.num_heads, num_kv_heads=self.num_kv_heads if self_attention else None,
            head_dim=self.head_dim, fused_qkv=self.fused_qkv and self_attention,
            use_bias=self.use_bias, dropout_rate=self.attention_dropout_rate,
            rotary_base=self.rotary_base if self_attention else None, out_kernel_init=self.out_kernel_init,
            dtype=self.dtype, param_dtype=self.param_dtype, name=name,
            **({} if self.kernel_init is None else {"kernel_init": self.kernel_init}))

    def _stream(self, x):
        """The residual stream in the compute dtype: under bf16 the sums between sublayers are bf16 too, so the
        block's output has the dtype it computes in (as flax's and Hugging Face's bf16 models have)."""
        return x if self.dtype is None else x.astype(self.dtype)

    def _residual(self, x, sublayer, norm_name: str, train: bool):
        """One residual sublayer, pre- or post-LN. sublayer(h) -> (out, extra); returns (new x, extra)."""
        norm = self._norm(norm_name)
        drop = nn.Dropout(self.dropout_rate, deterministic=not train)
        if self.norm_first:
            out, extra = sublayer(norm(x))
            return x + drop(out), extra
        out, extra = sublayer(x)
        return norm(x + drop(out)), extra

    def _mlp(self, x, train: bool):
        mlp = feed_forward(self.activation, self.mlp_dim, dropout_rate=self.mlp_dropout_rate,
                           use_bias=self.use_bias, kernel_init=self.kernel_init, out_kernel_init=self.out_kernel_init,
                           dtype=self.dtype, param_dtype=self.param_dtype, name="mlp")
        x, _ = self._residual(x, lambda h: (mlp(h, train=train), None), "mlp_norm", train)
        return x


def _check_tokens(x, mask, block: str, what: str = "x", mask_name: str = "token_mask") -> None:
    if x.ndim != 3:
        raise InputShapeError(f"{block} expects {what} as token vectors [B, T, D], got shape {tuple(x.shape)}")
    if mask is not None and tuple(mask.shape) != tuple(x.shape[:2]):
        raise InputShapeError(f"{block}: {mask_name} must be [B, T] = {tuple(x.shape[:2])} (True at real tokens), "
                              f"got {tuple(mask.shape)}")


class EncoderBlock(_Block):
    """x [B, T, D] -> [B, T, D]: self-attention then feed-forward; `causal` for decoder-only language models."""

    causal: bool = False

    @nn.compact
    def __call__(self, x, *, token_mask=None, positions=None, train: bool = False, return_weights: bool = False,
                 cache: KVCache | None = None):
        """token_mask [B, T] bool, True at real tokens; positions int [B, T] or [T] for rotary angles.
        Returns y, or (y, attention weights float32 [B, H, T, T]) with `return_weights`. With a `cache` the
        attention is causal over the cached tokens and the new ones, and the result is (y, new cache) or
        (y, weights [B, H, T, S], new cache)."""
        _check_tokens(x, token_mask, "EncoderBlock")
        x = self._stream(x)
        attention = self._attention("attention", self_attention=True)

        def attend(h):
            result = attention(h, key_mask=token_mask, causal=self.causal, positions=positions, train=train,
                               return_weights=True, cache=cache)
            return result[0], result[1:]  # (weights,) or (weights, new cache)

        x, extras = self._residual(x, attend, "attention_norm", train)
        x = self._mlp(x, train)
        outputs = (x, extras[0]) if return_weights else (x,)
        if cache is not None:
            outputs = (*outputs, extras[-1])
        return outputs if len(outputs) > 1 else x


class CausalBlock(EncoderBlock):
    """EncoderBlock(causal=True) of a decoder-only language model, called with positional arguments: jax.checkpoint
    traces keyword arguments, so `train` (a Python bool that picks dropout on or off) must be positional for
    nn.remat to hold it static (static_argnums). Same fields, same parameters as EncoderBlock."""

    causal: bool = True

    def __call__(self, x, token_mask, positions, train: bool = False, cache: KVCache | None = None):
        return super().__call__(x, token_mask=token_mask, positions=positions, train=train, cache=cache)


# self, x, token_mask, positions, train: `train` is argument 4 (nn.remat counts the module as 0).
_TRAIN_ARGNUM = 4


def causal_block_class(remat: bool = False) -> type[nn.Module]:
    """CausalBlock, or with `remat` the same block under nn.remat (gradient checkpointing): its activations are
    recomputed in the backward pass instead of kept from the forward one, so a step holds one block's
    activations at a time instead of every block's (memory for about a third more compute). Parameter names,
    shapes, values, losses and gradients are unchanged, so checkpoints and pretrained weights load either way."""
    return nn.remat(CausalBlock, static_argnums=(_TRAIN_ARGNUM,)) if remat else CausalBlock


class DecoderBlock(_Block):
    """x [B, T, D] (target so far), memory [B, S, Dm] (encoder output) -> [B, T, D]:
    causal self-attention, cross attention over the memory, then feed-forward."""

    @nn.compact
    def __call__(self, x, memory, *, token_mask=None, memory_mask=None, positions=None, train: bool = False,
                 return_weights: bool = False):
        """token_mask [B, T] and memory_mask [B, S] bool, True at real tokens. Returns y, or
        (y, {'self': [B, H, T, T], 'cross': [B, H, T, S]} float32 weights) with `return_weights`."""
        _check_tokens(x, token_mask, "DecoderBlock")
        _check_tokens(memory, memory_mask, "DecoderBlock", what="memory", mask_name="memory_mask")
        if memory.shape[0] != x.shape[0]:
            raise InputShapeError(f"DecoderBlock: x and memory need the same batch size, got {x.shape[0]} and "
                                  f"{memory.shape[0]}")
        x = self._stream(x)
        self_attention = self._attention("self_attention", self_attention=True)
        cross_attention = self._attention("cross_attention", self_attention=False)

        def attend_self(h):
            return self_attention(h, key_mask=token_mask, causal=True, positions=positions, train=train,
                                  return_weights=True)

        def attend_memory(h):
            return cross_attention(h, memory, key_mask=memory_mask, train=train, return_weights=True)

        x, self_weights = self._residual(x, attend_self, "self_attention_norm", train)
        x, cross_weights = self._residual(x, attend_memory, "cross_attention_norm", train)
        x = self._mlp(x, train)
        return (x, {"self": self_weights, "cross": cross_weights}) if return_weights else x
