"""Position-wise feed-forward networks of Transformer blocks: D -> hidden -> D.

`FeedForward` is the classic two-layer MLP (GELU in BERT, GPT-2, ViT; ReLU in the original Transformer);
`SwiGLU` is the gated one of PaLM and Llama (Shazeer 2020). `feed_forward` picks one by activation name.
"""
from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from zoo.errors import SettingError

# 'gelu' is the exact erf form: BERT's and torch's default (F.gelu, nn.GELU()). Flax's nn.gelu defaults to
# the tanh approximation, which GPT-2 uses and calls 'gelu_new'; it differs by up to ~1e-3.
ACTIVATIONS = {
    "gelu": functools.partial(nn.gelu, approximate=False),
    "gelu_tanh": functools.partial(nn.gelu, approximate=True),
    "relu": nn.relu,
    "silu": nn.silu,
}
FEED_FORWARDS = (*ACTIVATIONS, "swiglu")


class FeedForward(nn.Module):
    """x [..., D] -> down(dropout(activation(up(x)))) [..., out_features or D]."""

    hidden_features: int
    activation: str = "gelu"  # a key of ACTIVATIONS
    dropout_rate: float = 0.0  # on the hidden activations, as torch.nn.TransformerEncoderLayer does
    use_bias: bool = True
    out_features: int | None = None
    kernel_init: Any = nn.initializers.lecun_normal()
    out_kernel_init: Any = None  # the `down` projection's (GPT-2 scales it by depth); None = kernel_init
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        if self.activation not in ACTIVATIONS:
            raise SettingError(f"FeedForward: unknown activation {self.activation!r}; use one of "
                             f"{', '.join(ACTIVATIONS)} (or feed_forward('swiglu', ...))")
        dense = dict(use_bias=self.use_bias, dtype=self.dtype, param_dtype=self.param_dtype)
        up = nn.Dense(self.hidden_features, kernel_init=self.kernel_init, name="up", **dense)
        hidden = nn.Dropout(self.dropout_rate, deterministic=not train)(ACTIVATIONS[self.activation](up(x)))
        return nn.Dense(self.out_features or x.shape[-1], kernel_init=self.out_kernel_init or self.kernel_init,
                        name="down", **dense)(hidden)


class SwiGLU(nn.Module):
    """x [..., D] -> down(dropout(silu(gate(x)) * up(x))) [..., out_features or D]; Llama's gate_proj, up_proj,
    down_proj, without biases by default. Three matrices instead of two, so Llama-style models take
    hidden_features ~ 8/3 D to spend the parameters of a 4 D GELU MLP."""

    hidden_features: int
    dropout_rate: float = 0.0
    use_bias: bool = False
    out_features: int | None = None
    kernel_init: Any = nn.initializers.lecun_normal()
    out_kernel_init: Any = None  # the `down` projection's; None = kernel_init
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        dense = dict(use_bias=self.use_bias, kernel_init=self.kernel_init, dtype=self.dtype,
                     param_dtype=self.param_dtype)
        gate = nn.silu(nn.Dense(self.hidden_features, name="gate", **dense)(x))
        hidden = gate * nn.Dense(self.hidden_features, name="up", **dense)(x)
        hidden = nn.Dropout(self.dropout_rate, deterministic=not train)(hidden)
        dense["kernel_init"] = self.out_kernel_init or self.kernel_init
        return nn.Dense(self.out_features or x.shape[-1], name="down", **dense)(hidden)


def feed_forward(activation: str, hidden_features: int, *, dropout_rate: float = 0.0, use_bias: bool | None = None,
                 kernel_init: Any = None, out_kernel_init: Any = None, dtype: Any = None,
                 param_dtype: Any = jnp.float32, name: str | None = None) -> nn.Module:
    """FeedForward with `activation`, or SwiGLU for 'swiglu'. use_bias=None keeps each one's default
    (biases in the GELU MLP as in BERT and GPT-2, none in SwiGLU as in Llama); kernel_init=None keeps LeCun
    normal."""
    common = dict(hidden_features=hidden_features, dropout_rate=dropout_rate, out_kernel_init=out_kernel_init,
                  dtype=dtype, param_dtype=param_dtype, name=name)
    if use_bias is not None:
        common["use_bias"] = use_bias
    if kernel_init is not None:
        common["kernel_init"] = kernel_init
    if activation == "swiglu":
        return SwiGLU(**common)
    if activation not in ACTIVATIONS:
        raise SettingError(f"unknown feed-forward activation {activation!r}; use one of {', '.join(FEED_FORWARDS)}")
    return FeedForward(activation=activation, **common)
