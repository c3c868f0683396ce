"""word2vec (Mikolov et al., 2013): skip-gram and CBOW with negative sampling.

Each model owns two tables: `embed` (the input vectors, the word vectors people keep) and `output`
(the vectors a word has when it is predicted). Both return the per-example loss

    -log σ(u·v) - Σ_k log σ(-u·v_k)

where u is the input side (the centre word for skip-gram, the mean of the context for CBOW), v the
output vector of the word to predict and v_k those of the K sampled negatives. Training code lives in
`train/embeddings.py`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn


def negative_sampling_loss(inputs, targets, negatives, negative_mask=None):
    """inputs, targets [B, D]; negatives [B, K, D]; negative_mask [B, K] (False drops a negative).
    Returns the loss per example [B], in float32."""
    inputs, targets, negatives = (jnp.asarray(a, jnp.float32) for a in (inputs, targets, negatives))
    positive_score = jnp.sum(inputs * targets, axis=-1)  # [B]
    negative_scores = jnp.einsum("bd,bkd->bk", inputs, negatives)  # [B, K]
    negative_terms = jax.nn.log_sigmoid(-negative_scores)
    if negative_mask is not None:
        negative_terms = jnp.where(negative_mask, negative_terms, 0.0)
    return -jax.nn.log_sigmoid(positive_score) - jnp.sum(negative_terms, axis=-1)


def cbow_loss(context_vectors, context_mask, center_vectors, negative_vectors, negative_mask=None):
    """Loss per example [B]: the mean of the context's input vectors [B, C, D] (only where context_mask
    [B, C] is True) against the output vectors of the centre word [B, D] and of K negatives [B, K, D]."""
    weights = context_mask.astype(jnp.float32)
    count = jnp.maximum(weights.sum(axis=1, keepdims=True), 1.0)
    mean_context = jnp.einsum("bc,bcd->bd", weights, context_vectors.astype(jnp.float32)) / count  # [B, D]
    return negative_sampling_loss(mean_context, center_vectors, negative_vectors, negative_mask)


def true_negatives(negatives, targets):
    """[B, K] mask: a sampled "negative" that is the very word to predict is no negative (word2vec skips
    it too)."""
    return negatives != targets[:, None]


def uniform_init(bound: float):
    """Initializer drawing uniformly from [-bound, bound)."""
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


class _Tables(nn.Module):
    """The two embedding tables every word2vec variant shares."""

    vocab_size: int
    embed_dim: int = 100
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    def tables(self) -> tuple[nn.Embed, nn.Embed]:
        # Input vectors start uniform in ±0.5/D and output vectors at zero, as in the reference word2vec.
        embed = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype, param_dtype=self.param_dtype,
                         embedding_init=uniform_init(0.5 / self.embed_dim), name="embed")
        output = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype, param_dtype=self.param_dtype,
                          embedding_init=nn.initializers.zeros, name="output")
        return embed, output


class SkipGram(_Tables):
    """Predict a context word from the centre word."""

    @nn.compact
    def __call__(self, centers, contexts, negatives, *, train: bool = False):
        """centers, contexts int32 [B]; negatives int32 [B, K]. Returns the loss per pair [B]."""
        embed, output = self.tables()
        return negative_sampling_loss(embed(centers), output(contexts), output(negatives),
                                      true_negatives(negatives, contexts))


class CBOW(_Tables):
    """Predict the centre word from the mean of its context words."""

    @nn.compact
    def __call__(self, contexts, context_mask, centers, negatives, *, train: bool = False):
        """contexts int32 [B, C] with context_mask bool [B, C] (windows vary in size); centers int32 [B];
        negatives int32 [B, K]. Returns the loss per example [B]."""
        embed, output = self.tables()
        return cbow_loss(embed(contexts), context_mask, output(centers), output(negatives),
                         true_negatives(negatives, centers))
