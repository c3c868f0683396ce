"""What the word-embedding tasks (word2vec, GloVe) share: a vocabulary from the corpus, tables updated only
in the rows a batch touches, the vocabulary file beside the checkpoints, and evaluation of the vectors.

Both train on a corpus data set (train.data.corpus). The vocabulary is the words seen at least --min-freq
times (the --vocab-size most frequent, if set); rarer words are removed before windowing, as the reference
tools do. After training the vectors are scored on the Google analogy set and WordSim-353 (the files ship
with gensim; skipped without it) and saved with `word_vectors`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from train.data.corpus import encode_corpus
from train.data.sources import Dataset
from train.state import network_state, train_state
from train.tasks.base import Task, build_model
from zoo.errors import ZooError
from zoo.text.vectors import WordVectors

WORDS_FILE = "words.json"  # the vocabulary, row by row: turns a checkpoint's tables into word vectors
DEFAULT_MIN_FREQ = 5


class WordVectorTask(Task):
    data_kinds = ("corpus",)

    def __init__(self, config, card, dataset, parallel):
        super().__init__(config, card, dataset, parallel)
        self.model = build_model(card, self.dataset, config)
        self.tx = self.optimizer()

    def prepare_data(self, dataset: Dataset) -> Dataset:
        text = self.config.text
        self.corpus = encode_corpus(dataset.splits["train"].sentences, text.min_freq or DEFAULT_MIN_FREQ,
                                    text.vocab_size or None)
        self.words = self.corpus.words
        return Dataset(dataset.name, {"train": self.training_examples()}, "corpus", 0, (),
                       description=dataset.description, fixed_splits=True,
                       extra={"vocab_size": len(self.words)})

    def training_examples(self):
        raise NotImplementedError

    def init_state(self):
        example, kwargs = self.card.example(self.card, 1, 0)
        key = jax.random.key(self.config.run.seed)
        variables = jax.jit(lambda k: self.model.init(k, example, **kwargs))(key)
        return jax.device_get(train_state({"model": network_state(variables, self.tx)}, self.config.run.seed))

    def optimizer(self):
        raise NotImplementedError

    def vectors(self, params) -> np.ndarray:
        """The word vectors [V, D] a trained model keeps."""
        return np.asarray(params["embed"]["embedding"], np.float32)

    def word_vectors(self, state) -> WordVectors:
        return WordVectors(self.words, self.vectors(state.params))

    def after_training(self, state) -> dict[str, Any]:
        return evaluate_vectors(self.word_vectors(state))

    def result_model(self):
        return self.model

    def run_files(self) -> dict[str, Any]:
        return {WORDS_FILE: list(self.words)}

    def summary_extras(self) -> dict[str, Any]:
        return {"vocabulary": len(self.words), "corpus_tokens": int(self.corpus.ids.size)}

    @classmethod
    def headline(cls, summary: dict[str, Any]) -> str:
        parts = [f"{summary.get('vocabulary')} words"]
        if summary.get("test_wordsim353_spearman") is not None:
            parts.append(f"WordSim-353 Spearman {summary['test_wordsim353_spearman']:.4f}")
        if summary.get("test_analogy_accuracy") is not None:
            parts.append(f"analogies {summary['test_analogy_accuracy']:.4f}")
        return ", ".join(parts) + f", final train loss {summary['history'][-1]['train_loss']:.4f}"


def evaluate_vectors(vectors: WordVectors, restrict_vocab: int = 30000) -> dict[str, Any]:
    """Google analogy accuracy and WordSim-353 Spearman (gensim's files); {} without gensim."""
    from zoo.text.analogies import evaluate_analogies, evaluate_word_pairs

    scores = {}
    try:  # the evaluation files ship with gensim; a small corpus may cover none of their words
        analogies = evaluate_analogies(vectors, restrict_vocab=restrict_vocab)
        if analogies.total.correct + analogies.total.incorrect:
            scores.update(analogy_accuracy=analogies.accuracy, analogy_questions=analogies.questions)
        pairs = evaluate_word_pairs(vectors, restrict_vocab=restrict_vocab)
        scores.update(wordsim353_spearman=pairs.spearman, wordsim353_pairs=pairs.pairs)
    except (ZooError, ValueError):
        pass
    return scores


def scatter_rows(table: jax.Array, ids: jax.Array, updates: jax.Array, axis_name: str | None) -> jax.Array:
    """table with `updates` [..., D] added at rows `ids` [...] (repeats add up). Under pmap every device adds
    every device's rows, so the replicas stay equal; under jit the arrays are global already."""
    if axis_name is not None:
        ids = jax.lax.all_gather(ids, axis_name, tiled=True)
        updates = jax.lax.all_gather(updates, axis_name, tiled=True)
    return table.at[ids.reshape(-1)].add(updates.reshape(-1, updates.shape[-1]).astype(table.dtype))


def load_words(workdir: Path) -> tuple[str, ...]:
    path = Path(workdir) / WORDS_FILE
    if not path.is_file():
        raise ZooError(f"{path} not found: the vocabulary of a word-embedding run is written when it starts")
    return tuple(json.loads(path.read_text()))


def rows_or_zero(ids: jax.Array) -> jax.Array:
    """Empty slots (-1) read row 0; their losses are masked out, so row 0 gets nothing from them."""
    return jnp.where(ids >= 0, ids, 0)
