"""What word-embedding models train on: each word with its context window (word2vec), or the co-occurrence
counts of word pairs (GloVe).

word2vec's sampling follows the reference implementation: each epoch drops frequent words at random
(`keep_probabilities`) before windowing, every centre draws its own window width in [1, window], and
negatives come from the unigram^0.75 distribution (`negative_table`). A skip-gram example is one (centre,
context word) pair with its negatives, as in the reference; a CBOW example is one kept centre word with its
up to 2*window context words (padded with -1 and masked). Batches have fixed shapes, so one compiled step
serves them all. Everything random is a function of (seed, epoch) or (seed, epoch, batch), so a resumed run
draws what the unbroken run drew.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from train.data.corpus import EncodedCorpus

NONE = -1  # an empty context slot


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Chance to keep each word under frequent-word subsampling ([V]; word2vec's and gensim's formula:
    (sqrt(c / t) + 1) t / c with t = sample * total count, capped at 1)."""
    if sample <= 0:
        return np.ones(len(counts))
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1.0) * threshold / counts)


def negative_table(counts: np.ndarray, size: int = 1 << 22, power: float = 0.75) -> np.ndarray:
    """int32 [size]: word i fills a share of the slots proportional to counts[i] ** power, so a uniform
    draw from the table is a draw from the smoothed unigram distribution."""
    cumulative = np.cumsum(counts.astype(np.float64) ** power)
    slots = (np.arange(size) + 0.5) / size * cumulative[-1]
    return np.searchsorted(cumulative, slots, side="right").astype(np.int32)


@dataclasses.dataclass(frozen=True)
class Subsampling:
    """One epoch's draws: which words it keeps (their corpus positions, in order) and each position's window
    width in [1, window]."""

    kept: np.ndarray  # [M] corpus positions
    reach: np.ndarray  # [N]

    @classmethod
    def draw(cls, rng: np.random.Generator, ids: np.ndarray, keep: np.ndarray, window: int) -> "Subsampling":
        kept = rng.random(ids.size) < keep[ids]
        return cls(np.flatnonzero(kept), window - rng.integers(0, window, ids.size))


@dataclasses.dataclass(frozen=True)
class SampledCorpus:
    """A corpus with word2vec's sampling settings; what its skip-gram and CBOW views share."""

    corpus: EncodedCorpus
    window: int
    negatives: int
    keep: np.ndarray  # [V] subsampling keep probabilities
    table: np.ndarray  # [T] negative-sampling table

    def draw_negatives(self, rng: np.random.Generator | None, rows: int) -> np.ndarray:
        """int32 [rows, negatives]: draws from the smoothed unigram table (a batch's own rng, so a resumed
        run draws the same)."""
        draws = rng or np.random.default_rng(0)
        return self.table[draws.integers(0, self.table.size, (rows, self.negatives))].astype(np.int32)


@dataclasses.dataclass(frozen=True)
class SkipGramPairs(SampledCorpus):
    """Skip-gram's examples: every (centre, context) pair of an epoch's kept words, x = centre [B],
    y = context [B], 'negatives' [B, K].

    An epoch has a fixed number of pairs (so that steps per epoch and the rate schedule are known before the
    draws): as many as one reference draw gives. An epoch with more drops a random few of its pairs, one with
    fewer pads its last batch with masked pairs."""

    def __len__(self) -> int:
        return self._size

    @functools.cached_property
    def _size(self) -> int:
        return max(1, len(self.pairs(np.random.default_rng(0x5129))[0]))

    def pairs(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(centre ids, context ids) of one draw of subsampling and window widths, in a random order."""
        ids, sentence_of = self.corpus.ids, self.corpus.sentence_of
        drawn = Subsampling.draw(rng, ids, self.keep, self.window)
        kept = drawn.kept
        centres, contexts = [], []
        for offset in [d for d in range(-self.window, self.window + 1) if d != 0]:
            at = np.arange(max(0, -offset), kept.size - max(0, offset))  # kept-word indices with a partner
            here, there = kept[at], kept[at + offset]
            valid = (sentence_of[here] == sentence_of[there]) & (abs(offset) <= drawn.reach[here])
            centres.append(ids[here[valid]])
            contexts.append(ids[there[valid]])
        order = rng.permutation(sum(map(len, centres)))
        return np.concatenate(centres)[order].astype(np.int32), np.concatenate(contexts)[order].astype(np.int32)

    def for_epoch(self, seed: int, epoch: int) -> "EpochPairs":
        return EpochPairs(self, *self.pairs(np.random.default_rng([seed, epoch, 0x77])))


@dataclasses.dataclass(frozen=True)
class EpochPairs:
    source: SkipGramPairs
    centres: np.ndarray  # int32 [P]
    contexts: np.ndarray  # int32 [P]

    def __len__(self) -> int:
        return len(self.source)

    def collate(self, indices: np.ndarray, shards: int, capacity: int, rng: np.random.Generator | None = None):
        if shards != 1:
            raise ValueError("skip-gram pairs are flat batches (shards=1)")
        real = indices < self.centres.size  # beyond this epoch's pairs: padding
        at = np.minimum(indices, self.centres.size - 1)
        return {"x": self.centres[at], "y": self.contexts[at],
                "negatives": self.source.draw_negatives(rng, len(indices)),
                "mask": real.astype(np.float32)}


@dataclasses.dataclass(frozen=True)
class ContextWindows(SampledCorpus):
    """CBOW's examples: each kept word with its window, x = contexts [B, 2W] (-1: empty), y = centre [B],
    'negatives' [B, K].

    An epoch has as many examples as subsampling keeps on average (fixed, for the same reason as
    SkipGramPairs): the words one epoch keeps beyond that are left out, and an epoch that keeps fewer pads
    its last batches with masked examples."""

    def __len__(self) -> int:
        return max(1, int(round(float(self.keep[self.corpus.ids].sum()))))

    def for_epoch(self, seed: int, epoch: int) -> "EpochWindows":
        rng = np.random.default_rng([seed, epoch, 0x77])
        return EpochWindows(self, Subsampling.draw(rng, self.corpus.ids, self.keep, self.window))


@dataclasses.dataclass(frozen=True)
class EpochWindows:
    """One epoch's subsampled corpus: example i is the i-th kept word, and windows are taken over the kept
    words, as word2vec does."""

    source: ContextWindows
    drawn: Subsampling

    def __len__(self) -> int:
        return len(self.source)

    def collate(self, indices: np.ndarray, shards: int, capacity: int, rng: np.random.Generator | None = None):
        if shards != 1:
            raise ValueError("word windows are flat batches (shards=1)")
        src, window, kept = self.source, self.source.window, self.drawn.kept
        ids, sentence_of = src.corpus.ids, src.corpus.sentence_of
        last = max(kept.size - 1, 0)
        real = indices < kept.size  # beyond the words this epoch kept: padding
        centre_positions = kept[np.minimum(indices, last)]  # [B]
        offsets = np.array([d for d in range(-window, window + 1) if d != 0])  # [2W]
        other = indices[:, None] + offsets[None, :]  # [B, 2W] kept-word indices of the context candidates
        positions = kept[np.clip(other, 0, last)]
        valid = (real[:, None] & (other >= 0) & (other < kept.size)
                 & (sentence_of[positions] == sentence_of[centre_positions][:, None])
                 & (np.abs(offsets)[None, :] <= self.drawn.reach[centre_positions][:, None]))
        contexts = np.where(valid, ids[positions], NONE).astype(np.int32)  # [B, 2W]
        return {"x": contexts, "y": ids[centre_positions].astype(np.int32),
                "negatives": src.draw_negatives(rng, len(indices)),
                "mask": valid.any(axis=1).astype(np.float32)}


@dataclasses.dataclass(frozen=True)
class CooccurrenceEntries:
    """The nonzero entries of a co-occurrence matrix: x = (word, context word) int32 [n, 2], y = count [n]."""

    pairs: np.ndarray  # int32 [E, 2]
    counts: np.ndarray  # float32 [E]

    def __len__(self) -> int:
        return len(self.counts)

    def take(self, indices):
        return self.pairs[indices], self.counts[indices]
