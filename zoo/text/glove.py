"""GloVe (Pennington, Socher and Manning, 2014): word vectors fitted to log co-occurrence counts.

The model predicts log X_ij as w_i·w̃_j + b_i + b̃_j and is trained by weighted least squares,

    f(X_ij) (w_i·w̃_j + b_i + b̃_j - log X_ij)^2,   f(x) = min(1, (x / x_max)^α),

over the nonzero entries of the co-occurrence matrix X that `cooccurrence_matrix` counts. The word
vectors kept after training are W + W̃, as the paper recommends. Training: `train/embeddings.py`.
"""
from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import numpy as np
import scipy.sparse
from flax import linen as nn

from zoo.text.word2vec import uniform_init

X_MAX = 100.0
ALPHA = 0.75


def glove_weight(counts, x_max: float = X_MAX, alpha: float = ALPHA):
    """f(x) = min(1, (x / x_max)^α): rare pairs count less, frequent ones are capped at 1."""
    return jnp.minimum(1.0, (jnp.asarray(counts, jnp.float32) / x_max) ** alpha)


def glove_loss(predictions, counts, x_max: float = X_MAX, alpha: float = ALPHA):
    """predictions, counts [B] (counts > 0) -> f(X) (prediction - log X)^2 per entry [B]."""
    counts = jnp.asarray(counts, jnp.float32)
    error = jnp.asarray(predictions, jnp.float32) - jnp.log(counts)
    return glove_weight(counts, x_max, alpha) * jnp.square(error)


def glove_prediction(word_vectors, context_vectors, word_bias, context_bias):
    """w_i·w̃_j + b_i + b̃_j: vectors [B, D], biases [B] -> predicted log X_ij [B] (float32)."""
    products = word_vectors.astype(jnp.float32) * context_vectors.astype(jnp.float32)
    return jnp.sum(products, axis=-1) + word_bias.astype(jnp.float32) + context_bias.astype(jnp.float32)


class GloVe(nn.Module):
    """Tables W (`embed`), W̃ (`context`) [V, D] and biases b (`bias`), b̃ (`context_bias`) [V, 1]."""

    vocab_size: int
    embed_dim: int = 50
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, rows, cols, *, train: bool = False):
        """rows, cols int32 [B] (word i, context word j) -> predicted log X_ij [B]."""
        def table(name, width):
            # Uniform in ±0.5/D for vectors and biases alike, as the reference implementation starts.
            return nn.Embed(self.vocab_size, width, dtype=self.dtype, param_dtype=self.param_dtype,
                            embedding_init=uniform_init(0.5 / self.embed_dim), name=name)

        return glove_prediction(table("embed", self.embed_dim)(rows), table("context", self.embed_dim)(cols),
                                table("bias", 1)(rows)[:, 0], table("context_bias", 1)(cols)[:, 0])


def cooccurrence_matrix(sentences: Sequence[np.ndarray], vocab_size: int, window: int = 10, *,
                        distance_weighting: bool = True) -> scipy.sparse.csr_matrix:
    """Symmetric co-occurrence counts X [V, V] (float64 CSR).

    sentences: int arrays of word ids in [0, V); ids < 0 (words outside the vocabulary) are dropped
    before windowing, as the reference tools drop rare words. Every pair of words at distance
    d <= window within one sentence adds 1/d (1 without `distance_weighting`) to X_ij and to X_ji.
    Vectorised per distance: one pass of array ops for each d, never a Python loop over tokens.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    kept = [np.asarray(s, np.int64) for s in sentences]
    kept = [s[s >= 0] for s in kept]
    if any(s.size and s.max() >= vocab_size for s in kept):
        raise ValueError(f"word ids must be below vocab_size={vocab_size}")
    ids = np.concatenate(kept) if kept else np.zeros(0, np.int64)  # [N]
    sentence_of = np.repeat(np.arange(len(kept)), [s.size for s in kept])  # [N]
    total = scipy.sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    for distance in range(1, min(window, max(ids.size - 1, 0)) + 1):
        same = sentence_of[distance:] == sentence_of[:-distance]
        left, right = ids[:-distance][same], ids[distance:][same]
        weight = np.full(left.size, 1.0 / distance if distance_weighting else 1.0)
        both_ways = (np.concatenate([weight, weight]), (np.concatenate([left, right]), np.concatenate([right, left])))
        total = total + scipy.sparse.coo_matrix(both_ways, shape=(vocab_size, vocab_size)).tocsr()  # sums repeats
    return total.tocsr()
