"""Tokenizers: text -> list of token strings, and back for display.

`WordTokenizer` splits into words (inner apostrophes kept: "don't"), numbers and single punctuation marks;
`CharTokenizer` keeps every character. Both are tiny, picklable and described by `config()` so a
`TextCodec` file can rebuild them.
"""
from __future__ import annotations

import dataclasses
import re

# HTML line breaks appear verbatim in scraped reviews ("great.<br /><br />I also"); they are layout, not words.
_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
# Order matters: decimals before plain words so "3.5" stays one token; a word is letters/digits with optional
# inner apostrophes (straight or typographic); anything else that is not space is one punctuation token.
_WORD_PIECES = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:['\u2019][^\W_]+)*|[^\w\s]|_")
_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{$]) ")


@dataclasses.dataclass(frozen=True)
class WordTokenizer:
    lowercase: bool = True
    name = "word"

    def __call__(self, text: str) -> list[str]:
        text = _HTML_BREAK.sub(" ", text)
        if self.lowercase:
            text = text.lower()
        return _WORD_PIECES.findall(text)

    def join(self, tokens: list[str]) -> str:
        """Readable text (spaces between words, none before closing punctuation); not an exact inverse."""
        text = " ".join(tokens)
        return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))

    def config(self) -> dict:
        return {"name": self.name, "lowercase": self.lowercase}


@dataclasses.dataclass(frozen=True)
class CharTokenizer:
    lowercase: bool = False  # case carries meaning in character models (names, sentence starts)
    name = "char"

    def __call__(self, text: str) -> list[str]:
        return list(text.lower() if self.lowercase else text)

    def join(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def config(self) -> dict:
        return {"name": self.name, "lowercase": self.lowercase}


TOKENIZERS = {"word": WordTokenizer, "char": CharTokenizer}
Tokenizer = WordTokenizer | CharTokenizer


def make_tokenizer(name: str, **settings) -> Tokenizer:
    """'word' or 'char' (settings: lowercase=...)."""
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r}; use one of: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[name](**settings)
