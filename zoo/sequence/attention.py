"""Attention of a recurrent decoder state over encoder outputs (Bahdanau, Luong): now in zoo.layers.

Kept so that `from zoo.sequence.attention import ...` goes on working; new code imports from zoo.layers."""
from zoo.layers.masks import masked_softmax
from zoo.layers.rnn_attention import BahdanauAttention, LuongAttention

__all__ = ["BahdanauAttention", "LuongAttention", "masked_softmax"]
