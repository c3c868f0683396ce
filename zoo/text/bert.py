"""BERT (Devlin et al. 2019): a post-LN Transformer encoder over WordPiece ids, and sentence embeddings.

    ids [B, T] (+ token_types [B, T], attention_mask [B, T]) --word + position + type embeddings, LayerNorm-->
    num_layers x EncoderBlock (post-LN, exact GELU)  -->  hidden [B, T, D]
                                                     -->  pooled [B, D]: tanh(W h_[CLS]) ('cls', BERT's pooler)
                                                                          or the masked mean of hidden ('mean',
                                                                          sentence-transformers' pooling)
                                                     -->  logits [B, C] when num_classes > 0 (a classifier on pooled)

Parameter names follow Hugging Face's `BertModel` one for one (zoo.weights.hf_bert maps the keys), so a
`model.safetensors` of any BERT-family checkpoint (BERT, MiniLM, all-MiniLM-L6-v2) loads into it.

The attention mask defaults to `ids != pad_id`; pass `attention_mask` when the tokenizer gives one (it must
agree with the padding: a padded key is never attended to). Padded positions still get (meaningless) hidden
vectors, as in Hugging Face; pooling ignores them.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import InputShapeError, SettingError
from zoo.layers.transformer_blocks import EncoderBlock
from zoo.sequence.tokens import check_token_ids
from zoo.weights.hf_bert import bert_key

POOLINGS = ("cls", "mean")


def mean_pool(hidden: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """hidden [B, T, D], attention_mask [B, T] (1 at real tokens) -> the mean of the real tokens' vectors [B, D].

    The count is clamped at 1e-9, as sentence-transformers does, so an all-padding row gives zeros, not NaN."""
    weights = attention_mask.astype(hidden.dtype)[..., None]
    return jnp.sum(hidden * weights, axis=1) / jnp.maximum(jnp.sum(weights, axis=1), 1e-9)


def l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    """x / max(||x||, eps) along the last axis (torch.nn.functional.normalize)."""
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


# zoo.weights.pretrained reads Hugging Face files into this module's models through this key mapping.
TORCH_KEY_RENAME = bert_key


class Bert(nn.Module):
    """ids int32 [B, T] -> hidden states [B, T, D], or logits [B, num_classes] when num_classes > 0."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072  # Hugging Face's intermediate_size
    max_positions: int = 512
    type_vocab_size: int = 2
    norm_eps: float = 1e-12
    dropout_rate: float = 0.1  # embeddings, each sublayer's output, and before the classifier
    attention_dropout_rate: float = 0.1
    pad_id: int = 0  # [PAD]: the default attention mask is ids != pad_id
    num_classes: int = 0  # > 0: a classifier on the pooled output (fine-tuning)
    pooling: str = "cls"  # what the classifier reads: 'cls' (the pooler) or 'mean'
    add_pooler: bool = True  # BERT's pooler (tanh dense on [CLS]); checkpoints without one set False
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def setup(self):
        if self.pooling not in POOLINGS:
            raise SettingError(f"Bert: unknown pooling {self.pooling!r}; use one of {', '.join(POOLINGS)}")
        if self.pooling == "cls" and self.num_classes > 0 and not self.add_pooler:
            raise SettingError("Bert: pooling='cls' classifies from the pooler, so it needs add_pooler=True "
                               "(or use pooling='mean')")
        common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        init = nn.initializers.normal(0.02)  # BERT's initializer_range
        self.word_embeddings = nn.Embed(self.vocab_size, self.hidden_size, embedding_init=init, **common)
        self.position_embeddings = nn.Embed(self.max_positions, self.hidden_size, embedding_init=init, **common)
        self.token_type_embeddings = nn.Embed(self.type_vocab_size, self.hidden_size, embedding_init=init, **common)
        self.embeddings_norm = nn.LayerNorm(epsilon=self.norm_eps, **common)
        self.embeddings_dropout = nn.Dropout(self.dropout_rate)
        self.layer = [EncoderBlock(num_heads=self.num_heads, mlp_dim=self.mlp_dim, norm_first=False,
                                   activation="gelu", norm_eps=self.norm_eps, dropout_rate=self.dropout_rate,
                                   attention_dropout_rate=self.attention_dropout_rate, **common)
                      for _ in range(self.num_layers)]
        if self.add_pooler:
            self.pooler = nn.Dense(self.hidden_size, kernel_init=init, **common)
        if self.num_classes > 0:
            self.classifier_dropout = nn.Dropout(self.dropout_rate)
            self.classifier = nn.Dense(self.num_classes, kernel_init=init, **common)

    def __call__(self, ids, token_types=None, *, attention_mask=None, train: bool = False):
        hidden, mask = self.encode(ids, token_types, attention_mask=attention_mask, train=train)
        if self.add_pooler and self.is_initializing():
            self.cls_pool(hidden)  # create the pooler's parameters even when this call does not use them
        if self.num_classes <= 0:
            return hidden
        pooled = self.pool(hidden, mask)
        return self.classifier(self.classifier_dropout(pooled, deterministic=not train)).astype(jnp.float32)

    def encode(self, ids, token_types=None, *, attention_mask=None, train: bool = False,
               return_weights: bool = False):
        """(hidden [B, T, D], attention_mask [B, T] bool); with `return_weights` also each layer's attention
        weights, a list of float32 [B, H, T, T]."""
        mask = self._check(ids, token_types, attention_mask)
        positions = jnp.arange(ids.shape[1])[None, :]
        types = jnp.zeros_like(ids) if token_types is None else token_types
        x = (self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings(types))
        x = self.embeddings_dropout(self.embeddings_norm(x), deterministic=not train)
        weights = []
        for block in self.layer:
            if return_weights:
                x, w = block(x, token_mask=mask, train=train, return_weights=True)
                weights.append(w)
            else:
                x = block(x, token_mask=mask, train=train)
        return (x, mask, weights) if return_weights else (x, mask)

    def pool(self, hidden, attention_mask):
        """hidden [B, T, D] -> [B, D] by the model's `pooling`."""
        if self.pooling == "mean":
            return mean_pool(hidden, attention_mask)
        return self.cls_pool(hidden)

    def cls_pool(self, hidden):
        """BERT's pooler: tanh(W h_[CLS] + b) [B, D] (the input to next-sentence prediction)."""
        if not self.add_pooler:
            raise SettingError("Bert: this model has no pooler (add_pooler=False)")
        return jnp.tanh(self.pooler(hidden[:, 0]))

    def sentence_embedding(self, ids, token_types=None, *, attention_mask=None):
        """Mean-pooled, L2-normalised sentence vectors float32 [B, D] (sentence-transformers' recipe)."""
        hidden, mask = self.encode(ids, token_types, attention_mask=attention_mask)
        return l2_normalize(mean_pool(hidden.astype(jnp.float32), mask))

    def _check(self, ids, token_types, attention_mask):
        check_token_ids(ids, "Bert", "ids")
        if ids.shape[1] > self.max_positions:
            raise InputShapeError(f"Bert: {ids.shape[1]} tokens, but the model has {self.max_positions} positions; "
                                  f"truncate the text (the tokenizer's max_length) to at most {self.max_positions}")
        for name, value in (("token_types", token_types), ("attention_mask", attention_mask)):
            if value is not None and tuple(value.shape) != tuple(ids.shape):
                raise InputShapeError(f"Bert: {name} must have the shape of ids {tuple(ids.shape)}, got "
                                      f"{tuple(value.shape)}")
        return (ids != self.pad_id) if attention_mask is None else attention_mask.astype(bool)
