"""BERT's WordPiece tokenizer in pure Python, read from a Hugging Face tokenizer.json.

    >>> tokenizer = WordPieceTokenizer.from_file(minilm_files() / "tokenizer.json")
    >>> batch = tokenizer(["Great coffee!", "Tasted stale."])   # MiniLM's file: truncate and pad to 128
    >>> batch["input_ids"].shape, batch["input_ids"].dtype      # int32 [B, T]
    ((2, 128), dtype('int32'))
    >>> tokenizer.with_padding(None)(["Great coffee!", "Tasted stale."])["attention_mask"]   # to the longest
    array([[1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1]], dtype=int32)
    >>> tokenizer.tokenize("Unaffordable")
    ['una', '##ff', '##ord', '##able']

The pipeline is that of `tokenizers.Tokenizer.from_file` on the same file, and the ids are the same:
added tokens ([CLS], [MASK], ...) are found first, then each remaining piece is normalized
(`BertNormalizer`), split into words (`bert_pre_tokenize`), and each word becomes the longest
vocabulary entries that spell it, left to right, pieces after the first carrying the `##` prefix; a
word with a letter no entry covers, or longer than `max_input_chars_per_word`, is one [UNK].
Truncation, the [CLS] A [SEP] B [SEP] template and padding follow (`zoo.text.post_process`).
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable, Sequence

import numpy as np

from zoo.text.added_tokens import AddedTokenMatcher, Piece
from zoo.text.post_process import Padding, Template, Truncation
from zoo.text import tokenizer_json


@dataclasses.dataclass(frozen=True, eq=False)
class WordPiece:
    """Greedy longest-match-first segmentation of single words into vocabulary ids."""

    vocab: dict[str, int]
    unk_token: str = "[UNK]"
    continuing_subword_prefix: str = "##"
    max_input_chars_per_word: int = 100

    def __post_init__(self):
        if self.unk_token not in self.vocab:
            raise tokenizer_json.TokenizerFileError(
                f"the WordPiece vocabulary has no unknown token {self.unk_token!r}; pass a vocabulary that "
                "contains it or name the one it has as unk_token")
        # No entry is longer than this, so longer candidates need not be looked up.
        object.__setattr__(self, "_longest", max(map(len, self.vocab)))
        object.__setattr__(self, "_cache", {})

    def __call__(self, word: str) -> tuple[int, ...]:
        ids = self._cache.get(word)
        if ids is None:
            ids = self._cache[word] = self._segment(word)
        return ids

    def _segment(self, word: str) -> tuple[int, ...]:
        if len(word) > self.max_input_chars_per_word:
            return (self.vocab[self.unk_token],)
        ids = []
        start = 0
        while start < len(word):
            prefix = self.continuing_subword_prefix if start > 0 else ""
            for end in range(min(len(word), start + self._longest), start, -1):
                piece_id = self.vocab.get(prefix + word[start:end])
                if piece_id is not None:
                    break
            else:  # no entry spells the next letters: the whole word is unknown
                return (self.vocab[self.unk_token],)
            ids.append(piece_id)
            start = end
        return tuple(ids)


@dataclasses.dataclass(frozen=True, eq=False)
class WordPieceTokenizer:
    """Text -> BERT inputs. Build with `from_file`; `truncation`/`padding` start as the file sets them."""

    model: WordPiece
    normalize: Callable[[str], str] | None
    pre_tokenize: Callable[[str], list[str]] | None
    raw_added: AddedTokenMatcher  # tokens matched in the text as written
    normalized_added: AddedTokenMatcher  # tokens matched after normalization
    template: Template
    truncation: Truncation | None = None
    padding: Padding = Padding()
    source: str = "tokenizer.json"

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "WordPieceTokenizer":
        """Read a Hugging Face tokenizer.json whose model is WordPiece (BERT and its descendants)."""
        return cls(**tokenizer_json.read_wordpiece_parts(path))

    @property
    def vocab(self) -> dict[str, int]:
        return self.model.vocab

    def token_to_id(self, token: str) -> int | None:
        added = self._added_ids.get(token)  # added ids win, as in tokenizers
        return self.model.vocab.get(token) if added is None else added

    def id_to_token(self, token_id: int) -> str:
        return self._tokens_by_id[token_id]

    @functools.cached_property
    def _tokens_by_id(self) -> dict[int, str]:
        by_id = {i: t for t, i in self.model.vocab.items()}
        by_id.update((i, t) for t, i in self._added_ids.items())  # added ids win, as in tokenizers
        return by_id

    @functools.cached_property
    def _added_ids(self) -> dict[str, int]:
        return {t.content: t.id for m in (self.raw_added, self.normalized_added) for t in m.by_pattern.values()}

    def _pieces(self, text: str) -> list[Piece]:
        pieces = []
        for raw, token_id in self.raw_added.split(text):
            if token_id is not None:
                pieces.append((raw, token_id))
                continue
            normalized = self.normalize(raw) if self.normalize else raw
            pieces.extend(self.normalized_added.split(normalized))
        return pieces

    def encode_text(self, text: str) -> list[int]:
        """Ids of one text, without special tokens, truncation or padding."""
        if not isinstance(text, str):
            raise tokenizer_json.TokenizerInputError(
                f"a text to tokenize must be a str, got {type(text).__name__} {text!r}; convert it first "
                "(a missing text read as NaN, for instance, becomes '')")
        ids: list[int] = []
        for piece, token_id in self._pieces(text):
            if token_id is not None:
                ids.append(token_id)
                continue
            for word in self.pre_tokenize(piece) if self.pre_tokenize else ([piece] if piece else []):
                ids.extend(self.model(word))
        return ids

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of one text (no [CLS]/[SEP])."""
        return [self.id_to_token(i) for i in self.encode_text(text)]

    def encode(self, text: str, pair: str | None = None, *, add_special_tokens: bool = True,
               max_length: int | None = None) -> tuple[list[int], list[int]]:
        """(ids, token type ids) of one text or pair, truncated but not padded."""
        truncation = self._truncation(max_length)
        ids_a = self.encode_text(text)
        ids_b = None if pair is None else self.encode_text(pair)
        n_special = self.template.num_special(pair is not None) if add_special_tokens else 0
        if truncation is not None:
            ids_a, ids_b = truncation.apply(ids_a, ids_b, n_special)
        return self.template.apply(ids_a, ids_b, add_special_tokens)

    def __call__(self, texts: str | Sequence[str], pairs: str | Sequence[str] | None = None, *,
                 max_length: int | None = None, add_special_tokens: bool = True) -> dict[str, np.ndarray]:
        """input_ids, attention_mask, token_type_ids: int32 [B, T] for a batch of texts (or text pairs).

        `max_length` truncates to that many tokens, special tokens included, overriding the file's
        truncation; rows are padded as `self.padding` says (by default to the longest row).
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if pairs is not None:
            pairs = [pairs] if isinstance(pairs, str) else list(pairs)
            if len(pairs) != len(texts):
                raise tokenizer_json.TokenizerInputError(
                    f"got {len(texts)} texts but {len(pairs)} second texts; pass one second text per text")
        rows = [self.encode(text, None if pairs is None else pairs[i], add_special_tokens=add_special_tokens,
                            max_length=max_length) for i, text in enumerate(texts)]
        return self.padding.apply(rows)

    def _truncation(self, max_length: int | None) -> Truncation | None:
        if max_length is None:
            return self.truncation
        if self.truncation is None:
            return Truncation(max_length)
        return dataclasses.replace(self.truncation, max_length=max_length)

    def with_truncation(self, max_length: int | None, strategy: str = "longest_first",
                        direction: str = "right") -> "WordPieceTokenizer":
        """A copy that truncates to `max_length` tokens (None: never truncates)."""
        truncation = None if max_length is None else Truncation(max_length, strategy, direction)
        return dataclasses.replace(self, truncation=truncation)

    def with_padding(self, length: int | None = None, *, direction: str = "right",
                     multiple_of: int | None = None) -> "WordPieceTokenizer":
        """A copy that pads to `length` tokens (None: to the longest row of each batch)."""
        padding = dataclasses.replace(self.padding, length=length, direction=direction, multiple_of=multiple_of)
        return dataclasses.replace(self, padding=padding)
