"""BERT's text clean-up and word splitting, character for character as Hugging Face `tokenizers` does them.

`BertNormalizer` (clean text, space out Chinese characters, strip accents, lowercase) and
`bert_pre_tokenize` (split on whitespace, isolate punctuation). The character classes follow the Rust
implementation rather than Python's built-ins, because the two disagree at the edges:

- whitespace is Rust's `char::is_whitespace` (Unicode White_Space), not `str.isspace`, which also
  counts the separators U+001C..U+001F;
- a "control" character, removed by clean-up, is category Cc, Cf or Co (the `unicode_categories`
  crate's `is_other`, which leaves unassigned code points alone), except tab, newline and carriage
  return, which become spaces;
- punctuation is ASCII punctuation (so `$ + < = > ^ ` | ~` count) or any Unicode P* category;
- lowercasing maps each character on its own (`str.lower` on a whole string turns a final capital
  sigma into 'ς'; Rust and BERT give 'σ').

Each rule is a lazily filled `str.translate` table, so a text is cleaned at C speed and only the
characters actually seen are ever classified.
"""
from __future__ import annotations

import dataclasses
import string
import unicodedata

# Rust's char::is_whitespace: the Unicode White_Space property.
WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                       + "".join(chr(c) for c in range(0x2000, 0x200B)))
ASCII_PUNCTUATION = frozenset(string.punctuation)
# The CJK Unified Ideographs blocks BERT spaces out (ranges copied from tokenizers' bert.rs).
CHINESE_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                  (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_whitespace(char: str) -> bool:
    return char in WHITESPACE


def is_control(char: str) -> bool:
    """Removed by clean-up; tab, newline and carriage return are whitespace instead."""
    return char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cf", "Co")


def is_punctuation(char: str) -> bool:
    return char in ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def is_chinese(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in CHINESE_RANGES)


class _LazyTable(dict):
    """A `str.translate` table that works out each character's replacement the first time it is seen."""

    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def __missing__(self, code: int) -> str:
        replacement = self[code] = self.rule(chr(code))
        return replacement


def _clean(char: str) -> str:
    if char in ("\x00", "\ufffd") or is_control(char):
        return ""
    return " " if is_whitespace(char) else char


def _space_out_chinese(char: str) -> str:
    return f" {char} " if is_chinese(char) else char


def _drop_nonspacing_mark(char: str) -> str:
    return "" if unicodedata.category(char) == "Mn" else char


def _split_marks(char: str) -> str:
    if is_whitespace(char):
        return " "
    return f" {char} " if is_punctuation(char) else char


# Module-level so every tokenizer shares what has been classified; the rules never change.
CLEAN_TABLE = _LazyTable(_clean)
CHINESE_TABLE = _LazyTable(_space_out_chinese)
ACCENT_TABLE = _LazyTable(_drop_nonspacing_mark)
LOWERCASE_TABLE = _LazyTable(str.lower)  # one character at a time: no final-sigma rule
PRE_TOKENIZE_TABLE = _LazyTable(_split_marks)


@dataclasses.dataclass(frozen=True)
class BertNormalizer:
    """The `BertNormalizer` of a tokenizer.json; `strip_accents=None` follows `lowercase`, as in the file."""

    clean_text: bool = True
    handle_chinese_chars: bool = True
    strip_accents: bool | None = None
    lowercase: bool = True

    def __call__(self, text: str) -> str:
        if self.clean_text:
            text = text.translate(CLEAN_TABLE)
        if self.handle_chinese_chars and not text.isascii():
            text = text.translate(CHINESE_TABLE)
        strip_accents = self.lowercase if self.strip_accents is None else self.strip_accents
        if strip_accents and not text.isascii():
            text = unicodedata.normalize("NFD", text).translate(ACCENT_TABLE)
        if self.lowercase:
            text = text.lower() if text.isascii() else text.translate(LOWERCASE_TABLE)
        return text


def bert_pre_tokenize(text: str) -> list[str]:
    """Words of `text`: whitespace separates and is dropped; each punctuation mark is a word of its own."""
    return [word for word in text.translate(PRE_TOKENIZE_TABLE).split(" ") if word]
