"""Blocks shared across families: heads, input checks, attention, positions, norms, Transformer blocks."""
from zoo.layers.attention import MultiHeadAttention, attention_weights, dot_product_attention
from zoo.layers.feed_forward import FeedForward, SwiGLU, feed_forward
from zoo.layers.kv_cache import KVCache, next_positions
from zoo.layers.heads import predict_classes
from zoo.layers.inputs import flatten_features
from zoo.layers.masks import causal_mask, combine_masks, masked_softmax, padding_mask
from zoo.layers.norms import RMSNorm, norm_layer
from zoo.layers.positions import LearnedPositions, SinusoidalPositions, sinusoidal_table
from zoo.layers.rnn_attention import BahdanauAttention, LuongAttention
from zoo.layers.rotary import apply_rotary, rotary_cos_sin, rotate_half
from zoo.layers.transformer_blocks import DecoderBlock, EncoderBlock

__all__ = [
    "BahdanauAttention", "DecoderBlock", "EncoderBlock", "FeedForward", "KVCache", "LearnedPositions",
    "LuongAttention", "MultiHeadAttention", "RMSNorm", "SinusoidalPositions", "SwiGLU",
    "apply_rotary", "attention_weights", "causal_mask", "combine_masks", "dot_product_attention", "feed_forward",
    "flatten_features", "masked_softmax", "next_positions", "norm_layer", "padding_mask", "predict_classes",
    "rotary_cos_sin", "rotate_half", "sinusoidal_table",
]
