"""A pretrained model's own tokenizer as a data set's codec: text -> the ids its embedding table was trained on.

A word or character `TextCodec` builds its vocabulary from the training split; a pretrained BERT needs the
vocabulary it was trained with, so text sets tokenized for one use this codec instead (`--tokenizer minilm`,
or the path of any BERT-family tokenizer.json). Ids are `[CLS] text [SEP]`, truncated to max_length tokens
with the specials, and [PAD] (0 in BERT vocabularies) pads the batches.

    >>> codec = WordPieceCodec.named("minilm")
    >>> codec.encode("Great coffee!", max_length=8)
    array([ 101, 2307, 4157,  999,  102], dtype=int32)
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path

import numpy as np

from zoo.errors import ZooError
from zoo.text.pretrained_vocab import TokenizerVocabulary
from zoo.text.wordpiece import WordPieceTokenizer

FORMAT = "zoo.text.WordPieceCodec"
# Tokenizers that install with a package: name -> a function giving the tokenizer.json path.
NAMED = ("minilm",)


def is_wordpiece_name(name: str) -> bool:
    """Whether a --tokenizer value names a pretrained WordPiece tokenizer (a known name or a tokenizer.json)."""
    return name in NAMED or name.endswith(".json")


def _named_path(name: str) -> Path:
    if name == "minilm":
        from zoo.weights.minilm import minilm_files

        return minilm_files() / "tokenizer.json"
    path = Path(name).expanduser()
    if not path.is_file():
        raise ZooError(f"no tokenizer file at {path}: pass a Hugging Face tokenizer.json or one of "
                       f"{', '.join(NAMED)}")
    return path


@dataclasses.dataclass(frozen=True, eq=False)
class WordPieceCodec:
    tokenizer: WordPieceTokenizer
    name: str  # 'minilm' or the tokenizer.json path it was read from
    sha256: str  # of the tokenizer.json: a checkpoint's codec.json names the exact file

    @classmethod
    def named(cls, name: str) -> "WordPieceCodec":
        path = _named_path(name)
        return cls(WordPieceTokenizer.from_file(path), name, hashlib.sha256(path.read_bytes()).hexdigest())

    @functools.cached_property
    def vocab(self) -> TokenizerVocabulary:
        return TokenizerVocabulary(self.tokenizer, max(self.tokenizer.vocab.values()) + 1)

    @property
    def pad_id(self) -> int:
        return self.tokenizer.padding.pad_id

    def encode(self, text: str, pair: str | None = None, *, max_length: int | None = None) -> np.ndarray:
        """int32 [T]: [CLS] text [SEP] (or [CLS] text [SEP] pair [SEP]), at most max_length ids."""
        ids, _ = self.tokenizer.encode(text, pair, max_length=max_length)
        return np.asarray(ids, np.int32)

    def decode(self, ids) -> str:
        """The tokens of `ids`, [PAD] dropped, '##' pieces joined to the word before them."""
        words: list[str] = []
        for i in np.asarray(ids).tolist():
            if i == self.pad_id:
                continue
            token = self.tokenizer.id_to_token(i)
            if token.startswith("##") and words:
                words[-1] += token[2:]
            else:
                words.append(token)
        return " ".join(words)

    def to_json(self) -> dict:
        return {"format": FORMAT, "tokenizer": self.name, "sha256": self.sha256, "vocab_size": len(self.vocab)}
