"""Corpora for word embeddings: sentences of word tokens, and the vocabulary a run keeps from them.

A corpus data set (`corpus:PATH`: one sentence per line; `lee_corpus`: gensim's Lee background news corpus)
has one split, 'train', of tokenised sentences. The word-embedding tasks turn it into what they train on:
centre words with their windows (train.data.windows) or co-occurrence entries (train.tasks.glove).
"""
from __future__ import annotations

import collections
import dataclasses
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from train.data.sources import Dataset, MissingDataError
from zoo.errors import ZooError


class CorpusError(ZooError, ValueError):
    """A corpus that cannot give a vocabulary (empty, or too few words above min_freq)."""


def read_corpus(path, *, lowercase: bool = True) -> list[list[str]]:
    """One sentence per non-empty line, split by zoo's word tokenizer; punctuation-only tokens dropped."""
    from zoo.text.tokenize import WordTokenizer

    tokenizer = WordTokenizer(lowercase=lowercase)
    sentences = []
    with open(path, encoding="utf8", errors="replace") as lines:
        for line in lines:
            tokens = [t for t in tokenizer(line) if any(ch.isalnum() for ch in t)]
            if tokens:
                sentences.append(tokens)
    if not sentences:
        raise CorpusError(f"{path} holds no words; a corpus is a text file with one sentence per line")
    return sentences


@dataclasses.dataclass(frozen=True)
class SentenceSource:
    """Tokenised sentences: the 'train' split of a corpus data set."""

    sentences: tuple[tuple[str, ...], ...]

    def __len__(self) -> int:
        return len(self.sentences)


def corpus_dataset(name: str, sentences: Sequence[Sequence[str]], description: str) -> Dataset:
    source = SentenceSource(tuple(tuple(s) for s in sentences))
    return Dataset(name, {"train": source}, "corpus", 0, (), description=description, fixed_splits=True)


def load_corpus_file(path: str) -> Dataset:
    file = Path(path).expanduser()
    if not file.is_file():
        raise MissingDataError(f"corpus file {file} not found; corpus:PATH takes a text file with one sentence per line")
    sentences = read_corpus(file)
    return corpus_dataset(f"corpus:{path}", sentences, f"{len(sentences)} sentences from {file}")


def lee_corpus() -> Dataset:
    """gensim's Lee background news corpus (offline: it ships inside the gensim package)."""
    from zoo.text.analogies import gensim_test_file

    try:
        path = gensim_test_file("lee_background.cor")
    except ZooError as err:
        raise MissingDataError(f"lee_corpus: {err}") from None
    sentences = read_corpus(path)
    return corpus_dataset("lee_corpus", sentences, f"Lee background corpus (gensim), {len(sentences)} sentences")


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
    """Vocabulary of words seen at least `min_count` times (the `max_vocab` most frequent), and the corpus as ids
    with rarer words removed (they take no window position, as in word2vec and GloVe)."""
    if min_count < 1:
        raise CorpusError(f"min_freq must be at least 1, got {min_count}")
    sentences = list(sentences)
    counts = collections.Counter(word for sentence in sentences for word in sentence)
    words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    if max_vocab:
        words = words[:max_vocab]
    if len(words) < 2:
        raise CorpusError(f"only {len(words)} word(s) occur at least {min_count} times; use a larger corpus or a "
                          "smaller --min-freq")
    index = {w: i for i, w in enumerate(words)}
    encoded = [np.asarray([index[w] for w in s if w in index], np.int32) for s in sentences]
    encoded = [s for s in encoded if s.size]
    return EncodedCorpus(tuple(words), np.asarray([counts[w] for w in words], np.int64),
                         np.concatenate(encoded),
                         np.repeat(np.arange(len(encoded), dtype=np.int32), [s.size for s in encoded]))
