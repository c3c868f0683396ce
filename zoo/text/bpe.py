"""Byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen 2 ...) in pure Python, the same ids as Hugging Face's.

    >>> tokenizer = BPETokenizer.from_gguf(smollm2_gguf())        # or from_tokenizer_json(path)
    >>> tokenizer.encode("Hello world")
    [19556, 905]
    >>> batch = tokenizer.encode_batch(["Hi", "Hello world"], padding_side="left")
    >>> batch["input_ids"], batch["attention_mask"]             # int32 [B, T]
    (array([[    2, 26843], [19556,   905]], dtype=int32), array([[0, 1], [1, 1]], dtype=int32))
    >>> tokenizer.decode([19556, 905])
    'Hello world'

The pipeline is that of `tokenizers`: added tokens ('<|im_start|>', ...) are found in the text first and
kept whole; each remaining piece is cut into words and spelled in bytes (`zoo.text.byte_level`), and each
word becomes vocabulary ids by merging adjacent symbols, lowest merge rank first (`BPE`). Decoding joins
the tokens' bytes and reads them as UTF-8, so a character cut across tokens comes back whole.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Callable, Iterable, Sequence

import numpy as np

from zoo.errors import SettingError
from zoo.text.added_tokens import AddedToken, AddedTokenMatcher, Piece
from zoo.text.bpe_files import read_gguf_parts, read_tokenizer_json_parts
from zoo.text.bpe_model import BPE
from zoo.text.byte_level import PreTokenizer, token_bytes
from zoo.text.post_process import DIRECTIONS, Padding, Template, Truncation
from zoo.text.tokenizer_json import TokenizerInputError


@dataclasses.dataclass(frozen=True, eq=False)
class BPETokenizer:
    """Text <-> ids for a byte-level BPE. Build with `from_gguf`, `from_metadata` or `from_tokenizer_json`."""

    model: BPE
    pre_tokenize: PreTokenizer
    added: Sequence[AddedToken] = ()  # '<|im_start|>' ...: matched in the text before anything else
    normalize: Callable[[str], str] | None = None  # NFC for Qwen 2; None for GPT-2 and SmolLM2
    template: Template = Template()  # what add_special_tokens adds (a BOS for Llama 3, nothing for SmolLM2)
    bos_id: int | None = None
    eos_id: int | None = None
    pad_id: int | None = None
    unk_id: int | None = None
    chat_template: str | None = None
    padding_side: str = "right"
    source: str = "metadata"

    def __post_init__(self):
        if self.padding_side not in DIRECTIONS:
            raise SettingError(f"padding_side must be 'right' or 'left', got {self.padding_side!r}")
        # Tokens marked normalized are looked for after the normalizer, as tokenizers does.
        raw = [t for t in self.added if not t.normalized or self.normalize is None]
        normalized = [t for t in self.added if t.normalized and self.normalize is not None]
        object.__setattr__(self, "_raw_added", AddedTokenMatcher(raw))
        object.__setattr__(self, "_normalized_added", AddedTokenMatcher(normalized, self.normalize))

    @classmethod
    def from_gguf(cls, path: str | os.PathLike) -> "BPETokenizer":
        """The tokenizer described by a GGUF file's header (llama.cpp's `tokenizer.ggml.*` keys)."""
        from zoo.weights.gguf import read_metadata  # needs the gguf package, so only when asked

        return cls(**read_gguf_parts(read_metadata(path), str(path)))

    @classmethod
    def from_metadata(cls, metadata: dict, source: str = "metadata") -> "BPETokenizer":
        """As `from_gguf`, from a header already read (`zoo.weights.gguf.read_metadata`)."""
        return cls(**read_gguf_parts(metadata, source))

    @classmethod
    def from_tokenizer_json(cls, path: str | os.PathLike) -> "BPETokenizer":
        """A Hugging Face tokenizer.json of a byte-level BPE; a tokenizer_config.json beside it supplies the
        BOS/EOS/pad tokens and the chat template."""
        return cls(**read_tokenizer_json_parts(path))

    # -- vocabulary ------------------------------------------------------------------------------------------

    @functools.cached_property
    def _tokens_by_id(self) -> dict[int, str]:
        by_id = {i: t for t, i in self.model.vocab.items()}
        by_id.update((t.id, t.content) for t in self.added)  # added ids win, as in tokenizers
        return by_id

    @functools.cached_property
    def _bytes_by_id(self) -> list[bytes | None]:
        table: list[bytes | None] = [None] * self.vocab_size
        for token_id, token in self._tokens_by_id.items():
            table[token_id] = token_bytes(token)
        return table

    @functools.cached_property
    def special_ids(self) -> frozenset[int]:
        """Ids that `decode(..., skip_special_tokens=True)` leaves out: the added tokens marked special."""
        return frozenset(t.id for t in self.added if t.special)

    @functools.cached_property
    def vocab_size(self) -> int:
        """One more than the largest id: the rows an embedding table needs."""
        return max(self._tokens_by_id) + 1

    @functools.cached_property
    def _added_ids(self) -> dict[str, int]:
        return {t.content: t.id for t in self.added}

    def token_to_id(self, token: str) -> int | None:
        added = self._added_ids.get(token)  # added ids win, as in tokenizers
        return self.model.vocab.get(token) if added is None else added

    def id_to_token(self, token_id: int) -> str:
        token = self._tokens_by_id.get(token_id)
        if token is None:
            raise TokenizerInputError(f"token id {token_id} is not in the vocabulary (ids run from 0 to "
                                      f"{self.vocab_size - 1}); pass ids this tokenizer produced")
        return token

    def id_to_bytes(self, token_id: int) -> bytes:
        """The bytes one id spells (a character may be split over several ids)."""
        token = self._bytes_by_id[token_id] if 0 <= token_id < self.vocab_size else None
        if token is None:
            raise TokenizerInputError(f"token id {token_id} is not in the vocabulary (ids run from 0 to "
                                      f"{self.vocab_size - 1}); pass ids this tokenizer produced")
        return token

    # -- encoding --------------------------------------------------------------------------------------------

    def _pieces(self, text: str) -> list[Piece]:
        pieces: list[Piece] = []
        for raw, token_id in self._raw_added.split(text):
            if token_id is not None or self.normalize is None:
                pieces.append((raw, token_id))
            else:
                pieces.extend(self._normalized_added.split(self.normalize(raw)))
        return pieces

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Ids of one text; `add_special_tokens` adds what the file asks for (nothing, for SmolLM2)."""
        if not isinstance(text, str):
            raise TokenizerInputError(
                f"a text to tokenize must be a str, got {type(text).__name__} {text!r}; convert it first "
                "(a chat is turned into text by apply_chat_template)")
        ids: list[int] = []
        for piece, token_id in self._pieces(text):
            if token_id is not None:
                ids.append(token_id)
            else:
                for word in self.pre_tokenize(piece):
                    ids.extend(self.model(word))
        return self.template.apply(ids, None, add_special_tokens)[0]

    def tokenize(self, text: str) -> list[str]:
        """The tokens of one text, spelled as in the vocabulary ('Ġworld' for ' world')."""
        return [self.id_to_token(i) for i in self.encode(text, add_special_tokens=False)]

    def encode_batch(self, texts: str | Iterable[str], *, max_length: int | None = None,
                     padding: str = "longest", padding_side: str | None = None, truncation_side: str = "right",
                     pad_to_multiple_of: int | None = None, add_special_tokens: bool = True) -> dict[str, np.ndarray]:
        """input_ids and attention_mask, int32 [B, T], for a batch of texts.

        Rows longer than `max_length` lose tokens on `truncation_side`; rows are padded with `pad_id` to the
        longest row (`padding="longest"`) or to `max_length` (`padding="max_length"`). Pad on the left
        (`padding_side="left"`) to generate: then every row's last token is its real last token.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if padding not in ("longest", "max_length"):
            raise SettingError(f"padding must be 'longest' or 'max_length', got {padding!r}")
        if padding == "max_length" and max_length is None:
            raise SettingError("padding='max_length' needs max_length; pass max_length=... or padding='longest'")
        if self.pad_id is None:
            raise SettingError(f"{self.source} names no padding token, so batches cannot be padded; "
                               "use dataclasses.replace(tokenizer, pad_id=tokenizer.eos_id)")
        rows = [self.encode(text, add_special_tokens=add_special_tokens) for text in texts]
        if max_length is not None:
            truncation = Truncation(max_length, direction=truncation_side)
            rows = [truncation.apply(ids, None, 0)[0] for ids in rows]
        pad = Padding(max_length if padding == "max_length" else None, self.pad_id,
                      direction=padding_side or self.padding_side, multiple_of=pad_to_multiple_of)
        batch = pad.apply([(ids, [0] * len(ids)) for ids in rows])
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    # -- decoding --------------------------------------------------------------------------------------------

    def decode(self, ids: Iterable[int] | np.ndarray, *, skip_special_tokens: bool = False) -> str:
        """The text of `ids` (a list or a 1-D array); bytes that are not whole UTF-8 characters become U+FFFD,
        as in tokenizers."""
        table, skip = self._bytes_by_id, self.special_ids if skip_special_tokens else ()
        pieces = []
        for token_id in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
            token = table[token_id] if 0 <= token_id < len(table) else None
            if token is None:
                raise TokenizerInputError(f"token id {token_id} is not in the vocabulary (ids run from 0 to "
                                          f"{len(table) - 1}); pass ids this tokenizer produced")
            if token_id not in skip:
                pieces.append(token)
        return b"".join(pieces).decode("utf-8", errors="replace")

    def decode_batch(self, ids_bt: np.ndarray | Sequence[Sequence[int]], *, skip_special_tokens: bool = False
                     ) -> list[str]:
        """One text per row; with `skip_special_tokens` the padding (a special token) disappears too."""
        return [self.decode(row, skip_special_tokens=skip_special_tokens) for row in ids_bt]

    # -- chat ------------------------------------------------------------------------------------------------

    def apply_chat_template(self, messages: Sequence[dict], *, add_generation_prompt: bool = True,
                            tokenize: bool = False, **variables) -> str | list[int]:
        """The prompt text of a conversation, rendered by the file's chat template (its ids with `tokenize`)."""
        from zoo.text.chat_template import apply_chat_template

        if self.chat_template is None:
            raise SettingError(f"{self.source} has no chat template; pass one: "
                               "zoo.text.chat_template.apply_chat_template(template, messages)")
        names = {"bos_token": self.bos_id, "eos_token": self.eos_id, "unk_token": self.unk_id, "pad_token": self.pad_id}
        specials = {name: self.id_to_token(i) for name, i in names.items() if i is not None}
        text = apply_chat_template(self.chat_template, messages, add_generation_prompt=add_generation_prompt,
                                   **{**specials, **variables})
        # The template writes the special tokens itself, as transformers assumes.
        return self.encode(text, add_special_tokens=False) if tokenize else text
