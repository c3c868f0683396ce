"""Added tokens of a tokenizer.json ([CLS], [SEP], [MASK], ...): found in the text before it is split into words.

Hugging Face `tokenizers` looks for them twice: tokens marked `normalized: false` in the raw text, the
others in the normalized text. At each position the longest token wins (Aho-Corasick, leftmost-longest);
`single_word` keeps only matches not glued to a word character, `lstrip`/`rstrip` swallow the whitespace
beside the token. A literal "[MASK]" in a review therefore becomes the mask id, exactly as there.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Iterable

# Pieces of a text: (text, None) still to be tokenized, or (token, id) already decided.
Piece = tuple[str, int | None]

_WORD_AT_END = re.compile(r"\w$")
_WORD_AT_START = re.compile(r"^\w")
_SPACE_AT_END = re.compile(r"\s*$")
_SPACE_AT_START = re.compile(r"^\s*")


@dataclasses.dataclass(frozen=True)
class AddedToken:
    content: str
    id: int
    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool = False
    special: bool = True


class AddedTokenMatcher:
    """Splits a text at the occurrences of a set of added tokens (all matched as written, or all after
    normalization: the caller builds one matcher per kind)."""

    def __init__(self, tokens: Iterable[AddedToken], normalize: Callable[[str], str] | None = None):
        self.by_pattern: dict[str, AddedToken] = {}
        for token in tokens:
            pattern = normalize(token.content) if normalize else token.content
            if pattern:
                self.by_pattern.setdefault(pattern, token)
        # Longest first: Python's regex takes the first alternative that matches at the leftmost position.
        alternatives = sorted(self.by_pattern, key=len, reverse=True)
        self.regex = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def split(self, text: str) -> list[Piece]:
        if self.regex is None or not text:
            return [(text, None)]
        pieces: list[Piece] = []
        done = 0  # end of the text already assigned to a piece
        for match in self.regex.finditer(text):
            start, stop = match.span()
            token = self.by_pattern[match.group()]
            if token.single_word and (_WORD_AT_END.search(text[:start]) or _WORD_AT_START.search(text[stop:])):
                continue
            if token.lstrip:
                start = max(_SPACE_AT_END.search(text[:start]).start(), done)
            if token.rstrip:
                stop += _SPACE_AT_START.match(text[stop:]).end()
            if done < start:
                pieces.append((text[done:start], None))
            pieces.append((text[start:stop], token.id))
            done = stop
        if done < len(text):
            pieces.append((text[done:], None))
        return pieces
