"""Byte-level text for BPE tokenizers (GPT-2 and its descendants): words cut by a regex, then spelled in bytes.

A byte-level BPE never meets an unknown character: every word is turned into its UTF-8 bytes, and every
byte into one printable stand-in character (`BYTE_TO_CHAR`, GPT-2's `bytes_to_unicode`), so the
vocabulary's 256 single-character tokens cover any text. Decoding maps the stand-ins back to bytes.

    >>> pre_tokenize = PreTokenizer((ByteLevel(),))
    >>> pre_tokenize("Hello  world's 2024!")
    ['Hello', 'Ġ', 'Ġworld', "'s", 'Ġ2024', '!']

The steps are those of Hugging Face `tokenizers` (`Split`, `Digits`, `ByteLevel`), so a `pre_tokenizer`
section of a tokenizer.json maps one to one onto a `PreTokenizer`. The regexes use the `regex` package,
whose `\\p{L}`, `\\p{N}` and `\\s` are the Unicode properties Oniguruma (the `tokenizers` engine) uses;
Python's `re` has no `\\p{...}` and counts U+001C..U+001F as whitespace.
"""
from __future__ import annotations

import dataclasses
import functools

from zoo.errors import SettingError

# GPT-2's word split, as `tokenizers`' ByteLevel(use_regex=True) has it: contractions, letters, numbers and
# other symbols each with at most one leading space; runs of whitespace keep their last space for the next word.
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
SPLIT_BEHAVIORS = ("isolated", "removed", "merged_with_previous", "merged_with_next", "contiguous")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table: printable Latin-1 bytes stand for themselves, the others for code points from 256 up."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR: dict[int, str] = _bytes_to_unicode()
CHAR_TO_BYTE: dict[str, int] = {char: byte for byte, char in BYTE_TO_CHAR.items()}


def spell_bytes(text: str) -> str:
    """The byte-level spelling of `text`: one stand-in character per UTF-8 byte ('é' -> 'Ã©', ' a' -> 'Ġa')."""
    # Two C-speed calls: bytes -> Latin-1 str (code point = byte) -> stand-ins.
    return text.encode("utf-8").decode("latin-1").translate(BYTE_TO_CHAR)


def token_bytes(token: str) -> bytes:
    """The bytes a vocabulary entry stands for. An entry written outside the stand-in alphabet (an added
    token such as '<|im_end|>' is inside it, but one with a real space is not) is its own UTF-8, as in
    `tokenizers`' ByteLevel decoder."""
    try:
        return bytes(CHAR_TO_BYTE[char] for char in token)
    except KeyError:
        return token.encode("utf-8")


@functools.cache
def compile_regex(pattern: str):
    """`pattern` compiled by the `regex` package (imported here, so that `import zoo.text` does not need it)."""
    try:
        import regex
    except ImportError:
        raise ImportError("byte-level BPE tokenizers need the `regex` package for their Unicode word split: "
                          "pip install regex") from None
    return regex.compile(pattern)


def split_matches(piece: str, pattern, behavior: str = "isolated", invert: bool = False) -> list[str]:
    """`tokenizers`' Split: the matches of `pattern` and the text between them, kept, dropped or glued
    to a neighbour as `behavior` says (`invert`: the text between matches is what counts as the match)."""
    spans, done = [], 0  # (text, is_match), covering the piece
    for match in pattern.finditer(piece):
        start, stop = match.span()
        if start == stop:  # an empty match splits nothing
            continue
        if done < start:
            spans.append((piece[done:start], invert))
        spans.append((piece[start:stop], not invert))
        done = stop
    if done < len(piece):
        spans.append((piece[done:], invert))
    if behavior == "isolated":
        return [text for text, _ in spans]
    if behavior == "removed":
        return [text for text, is_match in spans if not is_match]
    if behavior == "merged_with_next":  # the mirror image of merged_with_previous
        mirrored = _glue([(text[::-1], is_match) for text, is_match in reversed(spans)], "merged_with_previous")
        return [text[::-1] for text in reversed(mirrored)]
    return _glue(spans, behavior)


def _glue(spans: list[tuple[str, bool]], behavior: str) -> list[str]:
    out: list[str] = []
    previous_match = False
    for text, is_match in spans:
        glue = (is_match and not previous_match) if behavior == "merged_with_previous" else is_match == previous_match
        if glue and out:
            out[-1] += text
        else:
            out.append(text)
        previous_match = is_match
    return out


@dataclasses.dataclass(frozen=True)
class Split:
    """Cut each piece at the matches of a regex (`tokenizers.pre_tokenizers.Split` with a Regex pattern)."""

    pattern: str
    behavior: str = "isolated"
    invert: bool = False

    def __post_init__(self):
        if self.behavior not in SPLIT_BEHAVIORS:
            raise SettingError(f"unknown Split behavior {self.behavior!r}; use one of {', '.join(SPLIT_BEHAVIORS)}")
        object.__setattr__(self, "_regex", compile_regex(self.pattern))

    def __call__(self, piece: str) -> list[str]:
        return split_matches(piece, self._regex, self.behavior, self.invert)


def Digits(individual_digits: bool = False) -> Split:  # noqa: N802  (named as in tokenizers)
    """Numbers apart from the letters around them; `individual_digits`: each digit a piece of its own.
    (`tokenizers` tests Rust's `char::is_numeric`, the categories Nd, Nl and No: `\\p{N}`.)"""
    return Split(r"\p{N}" if individual_digits else r"\p{N}+")


@dataclasses.dataclass(frozen=True)
class ByteLevel:
    """GPT-2's regex split (`use_regex`), then every piece spelled in byte stand-ins. It must come last:
    the steps before it cut text, this one also respells it."""

    add_prefix_space: bool = False
    use_regex: bool = True

    def __call__(self, piece: str) -> list[str]:
        if self.add_prefix_space and not piece.startswith(" "):
            piece = " " + piece  # as tokenizers does, for every piece between added tokens
        words = compile_regex(GPT2_PATTERN).findall(piece) if self.use_regex else [piece]
        return [spell_bytes(word) for word in words]


@dataclasses.dataclass(frozen=True)
class PreTokenizer:
    """Text between added tokens -> byte-level words; `steps` apply in order, each to every piece so far."""

    steps: tuple = (ByteLevel(),)

    def __post_init__(self):
        if not self.steps or not isinstance(self.steps[-1], ByteLevel):
            raise SettingError("a byte-level PreTokenizer must end with a ByteLevel step, which spells the words "
                             "in bytes; add ByteLevel(use_regex=False) after the splits")
        if any(isinstance(step, ByteLevel) for step in self.steps[:-1]):
            raise SettingError("ByteLevel may appear only once, as the last step of a PreTokenizer")

    def __call__(self, text: str) -> list[str]:
        pieces = [text] if text else []
        for step in self.steps:
            pieces = [word for piece in pieces for word in step(piece) if word]
        return pieces
