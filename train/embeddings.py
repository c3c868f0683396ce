"""Training word vectors: word2vec (skip-gram / CBOW, negative sampling) and GloVe, each a jit-compiled
Optax step fed by numpy batches, each returning a `zoo.text.vectors.WordVectors`.

    >>> sentences = read_corpus("corpus.txt")                     # one sentence per line
    >>> vectors = train_word2vec(sentences, Word2VecConfig(dim=100, epochs=5))
    >>> vectors.nearest("king", 5)

Both follow their reference implementations where it matters for quality: word2vec drops frequent words
at random (`sample`), shrinks each window at random, draws negatives from unigram^0.75 and decays the
learning rate linearly with progress; GloVe counts 1/distance-weighted co-occurrences and fits them
with AdaGrad over shuffled batches of the nonzero entries. Same seed, same vectors.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import math
import time
from typing import Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from zoo.text.glove import GloVe, cooccurrence_matrix, glove_loss, glove_prediction
from zoo.text.tokenize import WordTokenizer
from zoo.text.vectors import WordVectors
from zoo.text.word2vec import CBOW, SkipGram, cbow_loss, negative_sampling_loss, true_negatives

Progress = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Word2VecConfig:
    dim: int = 100
    window: int = 5  # largest distance to a context word; each centre draws its own window in [1, window]
    negative: int = 5  # negatives per positive
    min_count: int = 5  # rarer words are dropped before windowing
    epochs: int = 5
    sg: bool = True  # skip-gram; False = CBOW (mean of the context)
    sample: float = 1e-3  # frequent-word subsampling threshold; 0 keeps every word
    lr: float = 0.025  # decays linearly to lr * min_lr_fraction, as gensim's alpha -> min_alpha
    min_lr_fraction: float = 1e-4
    batch_size: int = 4096  # positive examples per step
    max_vocab: int | None = None
    table_size: int = 1 << 22  # entries of the unigram^0.75 table negatives are drawn from
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class GloVeConfig:
    dim: int = 50
    window: int = 10
    min_count: int = 5
    epochs: int = 25
    x_max: float = 100.0
    alpha: float = 0.75
    lr: float = 0.05  # AdaGrad, accumulators starting at 1 as in the reference implementation
    batch_size: int = 4096  # nonzero co-occurrence entries per step
    max_vocab: int | None = None
    seed: int = 0


# ----------------------------------------------------------------------------------------------- corpus

def read_corpus(path, *, lowercase: bool = True) -> list[list[str]]:
    """One sentence per non-empty line, split by zoo's word tokenizer; punctuation-only tokens dropped."""
    tokenizer = WordTokenizer(lowercase=lowercase)
    sentences = []
    with open(path, encoding="utf8", errors="replace") as lines:
        for line in lines:
            tokens = [t for t in tokenizer(line) if any(ch.isalnum() for ch in t)]
            if tokens:
                sentences.append(tokens)
    if not sentences:
        raise ValueError(f"{path} holds no words; a corpus is a text file with one sentence per line")
    return sentences


@dataclasses.dataclass(frozen=True)
class EncodedCorpus:
    words: tuple[str, ...]  # most frequent first (ties alphabetical)
    counts: np.ndarray  # int64 [V]
    ids: np.ndarray  # int32 [N], every kept token of every sentence, in order
    sentence_of: np.ndarray  # int32 [N], the sentence each token belongs to

    def sentences(self) -> list[np.ndarray]:
        cuts = np.flatnonzero(np.diff(self.sentence_of)) + 1
        return np.split(self.ids, cuts)


def encode_corpus(sentences: Iterable[Sequence[str]], min_count: int, max_vocab: int | None = None
                  ) -> EncodedCorpus:
    """Vocabulary of words seen at least `min_count` times, and the corpus as ids with rarer words removed
    (they take no window position, as in word2vec and GloVe)."""
    sentences = list(sentences)
    counts = collections.Counter(word for sentence in sentences for word in sentence)
    words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    if max_vocab is not None:
        words = words[:max_vocab]
    if len(words) < 2:
        raise ValueError(f"only {len(words)} word(s) occur at least min_count={min_count} times; "
                         f"use a larger corpus or a smaller --min-count")
    index = {w: i for i, w in enumerate(words)}
    encoded = [np.asarray([index[w] for w in s if w in index], np.int32) for s in sentences]
    encoded = [s for s in encoded if s.size]
    return EncodedCorpus(tuple(words), np.asarray([counts[w] for w in words], np.int64),
                         np.concatenate(encoded),
                         np.repeat(np.arange(len(encoded), dtype=np.int32), [s.size for s in encoded]))


# ---------------------------------------------------------------------------------------------- word2vec

def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Chance to keep each word under frequent-word subsampling ([V]; word2vec's and gensim's formula:
    (sqrt(c / t) + 1) t / c with t = sample * total count, capped at 1)."""
    if sample <= 0:
        return np.ones(len(counts))
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1.0) * threshold / counts)


def negative_table(counts: np.ndarray, size: int, power: float = 0.75) -> np.ndarray:
    """int32 [size]: word i fills a share of the slots proportional to counts[i] ** power, so a uniform
    draw from the table is a draw from the smoothed unigram distribution."""
    cumulative = np.cumsum(counts.astype(np.float64) ** power)
    slots = (np.arange(size) + 0.5) / size * cumulative[-1]
    return np.searchsorted(cumulative, slots, side="right").astype(np.int32)


def _subsample(corpus: EncodedCorpus, keep: np.ndarray, rng: np.random.Generator):
    kept = rng.random(corpus.ids.size) < keep[corpus.ids]
    return corpus.ids[kept], corpus.sentence_of[kept]


def skipgram_pairs(ids: np.ndarray, sentence_of: np.ndarray, window: int, rng: np.random.Generator):
    """(centres, contexts) int32 [P]: every word with every word within its own random window
    (drawn in [1, window] per centre) in the same sentence."""
    reach = window - rng.integers(0, window, ids.size)  # [N] effective half-width per centre
    centres, contexts = [], []
    for distance in range(1, window + 1):
        same = sentence_of[distance:] == sentence_of[:-distance]
        left, right = ids[:-distance], ids[distance:]
        ahead = same & (reach[:-distance] >= distance)  # centre on the left looks right
        behind = same & (reach[distance:] >= distance)  # centre on the right looks left
        centres += [left[ahead], right[behind]]
        contexts += [right[ahead], left[behind]]
    return np.concatenate(centres), np.concatenate(contexts)


def cbow_examples(ids: np.ndarray, sentence_of: np.ndarray, window: int, rng: np.random.Generator):
    """(contexts int32 [N, 2W], mask bool [N, 2W], centres int32 [N]) for every centre with at least
    one context word inside its random window."""
    reach = window - rng.integers(0, window, ids.size)
    n = ids.size
    contexts = np.zeros((n, 2 * window), np.int32)
    mask = np.zeros((n, 2 * window), bool)
    positions = np.arange(n)
    for slot, offset in enumerate([d for d in range(-window, window + 1) if d != 0]):
        other = positions + offset
        inside = (other >= 0) & (other < n)
        other = np.clip(other, 0, n - 1)
        valid = inside & (sentence_of[other] == sentence_of) & (reach >= abs(offset))
        contexts[:, slot] = np.where(valid, ids[other], 0)
        mask[:, slot] = valid
    has_context = mask.any(axis=1)
    return contexts[has_context], mask[has_context], ids[has_context]


def _batches(arrays: Sequence[np.ndarray], batch_size: int, order: np.ndarray):
    """Fixed-shape batches in `order`; the last one is padded and its padding gets weight 0, so one
    compiled step serves the whole run."""
    for start in range(0, order.size, batch_size):
        take = order[start:start + batch_size]
        pad = batch_size - take.size
        weight = np.ones(batch_size, np.float32)
        if pad:
            weight[take.size:] = 0.0
            take = np.concatenate([take, np.zeros(pad, take.dtype)])
        yield tuple(a[take] for a in arrays) + (weight,)


@functools.lru_cache(maxsize=8)  # one compiled step per (architecture, negatives), reused across runs
def _word2vec_step(skip_gram: bool, negative: int):
    """(step, optimizer): one SGD step on the rows a batch touches.

    Autodiff through the Flax module would give a dense [V, D] gradient per table and an update of every
    row each step; here the loss is differentiated with respect to the gathered rows only and the Optax
    update of those rows is scattered back (repeated rows add up), which is 3-4x faster on CPU and exact
    for stateless transforms such as SGD. The loss is the same function the `SkipGram` / `CBOW` modules
    compute, on the same parameter tree."""
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=1.0)  # the rate is set every step

    @functools.partial(jax.jit, donate_argnums=(0,))
    def step(params, opt_state, batch, table, key, lr):
        *inputs, weight = batch
        if skip_gram:
            in_ids, targets = inputs  # centres [B], contexts [B]
        else:
            in_ids, context_mask, targets = inputs  # contexts [B, C], mask [B, C], centres [B]
        negatives = table[jax.random.randint(key, (weight.shape[0], negative), 0, table.shape[0])]  # [B, K]
        out_ids = jnp.concatenate([targets[:, None], negatives], axis=1)  # [B, 1 + K]
        embed, output = params["embed"]["embedding"], params["output"]["embedding"]

        def loss_fn(rows):
            in_rows, out_rows = rows  # [B, D] or [B, C, D]; [B, 1 + K, D]
            mask = true_negatives(negatives, targets)
            if skip_gram:
                per_example = negative_sampling_loss(in_rows, out_rows[:, 0], out_rows[:, 1:], mask)
            else:
                per_example = cbow_loss(in_rows, context_mask, out_rows[:, 0], out_rows[:, 1:], mask)
            # Summed, not averaged: each example moves its rows by lr times its own gradient, as the
            # reference's one-example-at-a-time SGD does, whatever the batch size.
            return jnp.sum(per_example * weight)

        loss, row_grads = jax.value_and_grad(loss_fn)((embed[in_ids], output[out_ids]))
        opt_state.hyperparams["learning_rate"] = lr
        (in_update, out_update), opt_state = optimizer.update(row_grads, opt_state)
        params = {"embed": {"embedding": embed.at[in_ids].add(in_update)},
                  "output": {"embedding": output.at[out_ids].add(out_update)}}
        return params, opt_state, loss

    return step, optimizer


def train_word2vec(sentences: Iterable[Sequence[str]], config: Word2VecConfig = Word2VecConfig(), *,
                   progress: Progress | None = None) -> WordVectors:
    """Word vectors (the input table) of a skip-gram or CBOW model trained on tokenised sentences."""
    _check_positive(dim=config.dim, window=config.window, negative=config.negative, epochs=config.epochs,
                    min_count=config.min_count, batch_size=config.batch_size)
    corpus = encode_corpus(sentences, config.min_count, config.max_vocab)
    vocab_size = len(corpus.words)
    model = (SkipGram if config.sg else CBOW)(vocab_size=vocab_size, embed_dim=config.dim)
    rng = np.random.default_rng(config.seed)
    key = jax.random.key(config.seed)
    key, init_key = jax.random.split(key)
    one = jnp.zeros((1,), jnp.int32)
    dummy = (one, one, jnp.zeros((1, 1), jnp.int32)) if config.sg else \
        (jnp.zeros((1, 1), jnp.int32), jnp.ones((1, 1), bool), one, jnp.zeros((1, 1), jnp.int32))
    params = model.init(init_key, *dummy)["params"]
    step, optimizer = _word2vec_step(config.sg, config.negative)
    opt_state = optimizer.init((params["embed"]["embedding"][:0], params["output"]["embedding"][:0]))  # stateless
    table = jnp.asarray(negative_table(corpus.counts, config.table_size))
    keep = keep_probabilities(corpus.counts, config.sample)
    min_lr = config.lr * config.min_lr_fraction
    started, step_no = time.perf_counter(), 0
    for epoch in range(config.epochs):
        ids, sentence_of = _subsample(corpus, keep, rng)
        if config.sg:
            arrays = skipgram_pairs(ids, sentence_of, config.window, rng)
        else:
            arrays = cbow_examples(ids, sentence_of, config.window, rng)
        count = arrays[0].shape[0]
        order = rng.permutation(count)
        steps = math.ceil(count / config.batch_size)
        losses = []  # summed losses, kept on the device so no step waits for the previous one
        for b, batch in enumerate(_batches(arrays, config.batch_size, order)):
            done = (epoch + b / steps) / config.epochs  # the rate decays with progress, as in gensim
            lr = config.lr - (config.lr - min_lr) * done
            params, opt_state, loss = step(params, opt_state, batch, table, jax.random.fold_in(key, step_no),
                                           jnp.float32(lr))
            losses.append(loss)
            step_no += 1
        mean_loss = float(jnp.sum(jnp.stack(losses))) / count
        _check_finite(mean_loss, epoch)
        if progress:
            progress(f"word2vec epoch {epoch + 1}/{config.epochs}: {count} examples, mean loss {mean_loss:.4f}, "
                     f"{time.perf_counter() - started:.1f}s")
    return WordVectors(corpus.words, np.asarray(params["embed"]["embedding"], np.float32))


# ------------------------------------------------------------------------------------------------- GloVe

# (table, side) for every GloVe parameter: word-side tables (side 0) are read at an entry's row,
# context-side ones (side 1) at its column.
_GLOVE_TABLES = (("embed", 0), ("context", 1), ("bias", 0), ("context_bias", 1))


@functools.lru_cache(maxsize=8)
def _glove_step(x_max: float, alpha: float):
    """One AdaGrad step over a batch of co-occurrence entries, as the reference implementation takes it:
    each entry's gradient updates the rows it touches, scaled by that row's accumulated squared gradients
    (started at 1), and then adds its square to them.

    Not optax.adagrad: a dense optimizer sees one summed gradient per row per batch, so a frequent word
    that occurs in hundreds of a batch's entries would move as far as a rare one; GloVe's biases then
    cannot reach the size of log counts and every vector collapses onto one direction."""

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, accumulators, batch, lr):
        rows, cols, counts, weight = batch  # [B] each
        ids_of = (rows, cols)

        def loss_fn(gathered):  # per-entry rows: vectors [B, D], biases [B, 1]
            w, w_context, b, b_context = gathered
            per_entry = glove_loss(glove_prediction(w, w_context, b[:, 0], b_context[:, 0]), counts, x_max, alpha)
            # Half the squared error, so the gradient is f(X) * error as in the reference implementation.
            return 0.5 * jnp.sum(per_entry * weight)

        gathered = tuple(params[name]["embedding"][ids_of[side]] for name, side in _GLOVE_TABLES)
        loss, grads = jax.value_and_grad(loss_fn)(gathered)
        new_params, new_accumulators = {}, {}
        for (name, side), grad in zip(_GLOVE_TABLES, grads):
            ids, table, accumulated = ids_of[side], params[name]["embedding"], accumulators[name]
            new_params[name] = {"embedding": table.at[ids].add(-lr * grad / jnp.sqrt(accumulated[ids]))}
            new_accumulators[name] = accumulated.at[ids].add(jnp.square(grad))
        return new_params, new_accumulators, loss

    return step


def train_glove(sentences: Iterable[Sequence[str]], config: GloVeConfig = GloVeConfig(), *,
                progress: Progress | None = None) -> WordVectors:
    """GloVe vectors W + W̃ fitted to the corpus's co-occurrence counts."""
    _check_positive(dim=config.dim, window=config.window, epochs=config.epochs, min_count=config.min_count,
                    batch_size=config.batch_size)
    corpus = encode_corpus(sentences, config.min_count, config.max_vocab)
    vocab_size = len(corpus.words)
    cooccurrence = cooccurrence_matrix(corpus.sentences(), vocab_size, config.window).tocoo()
    entries = (cooccurrence.row.astype(np.int32), cooccurrence.col.astype(np.int32),
               cooccurrence.data.astype(np.float32))
    model = GloVe(vocab_size=vocab_size, embed_dim=config.dim)
    rng = np.random.default_rng(config.seed)
    one = jnp.zeros((1,), jnp.int32)
    params = model.init(jax.random.key(config.seed), one, one)["params"]
    accumulators = {name: jnp.ones_like(params[name]["embedding"]) for name, _ in _GLOVE_TABLES}
    step = _glove_step(config.x_max, config.alpha)
    started = time.perf_counter()
    for epoch in range(config.epochs):
        losses = []  # kept on the device: reading each one back would stall the pipeline every step
        for batch in _batches(entries, config.batch_size, rng.permutation(entries[0].size)):
            params, accumulators, loss = step(params, accumulators, batch, jnp.float32(config.lr))
            losses.append(loss)
        mean_loss = float(jnp.sum(jnp.stack(losses))) / entries[0].size
        _check_finite(mean_loss, epoch)
        if progress:
            progress(f"glove epoch {epoch + 1}/{config.epochs}: mean loss {mean_loss:.4f} over "
                     f"{entries[0].size} entries, {time.perf_counter() - started:.1f}s")
    vectors = params["embed"]["embedding"] + params["context"]["embedding"]
    return WordVectors(corpus.words, np.asarray(vectors, np.float32))


def _check_positive(**settings) -> None:
    for name, value in settings.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def _check_finite(loss: float, epoch: int) -> None:
    if not math.isfinite(loss):
        from train.loop import NonFiniteLossError

        raise NonFiniteLossError(f"the embedding loss became {loss} in epoch {epoch + 1}; lower the learning rate")
