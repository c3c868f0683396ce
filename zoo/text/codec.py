"""TextCodec: a tokenizer and the vocabulary built with it, saved together as one JSON file."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from zoo.errors import ZooError
from zoo.text.tokenize import Tokenizer, make_tokenizer
from zoo.text.vocab import Vocab

FORMAT = "zoo.text.TextCodec"
VERSION = 1


class CodecFileError(ZooError, ValueError):
    """A codec file that cannot be read: not JSON, not a codec, or written by another format version."""


@dataclasses.dataclass(frozen=True)
class TextCodec:
    tokenizer: Tokenizer
    vocab: Vocab

    @classmethod
    def build(cls, texts: Iterable[str], tokenizer: str | Tokenizer = "word", *, min_freq: int = 1,
              max_size: int | None = None) -> "TextCodec":
        """Tokenize `texts` and keep the tokens `Vocab.build` keeps (build it from the training split only)."""
        tokenizer = make_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
        vocab = Vocab.build((tokenizer(t) for t in texts), min_freq=min_freq, max_size=max_size)
        return cls(tokenizer, vocab)

    def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> np.ndarray:
        """int32 [T] token ids."""
        return self.vocab.encode(self.tokenizer(text), add_bos=add_bos, add_eos=add_eos)

    def decode(self, ids) -> str:
        """Text of `ids` [T], stopping at the first `<eos>`, padding and `<bos>` dropped."""
        return self.tokenizer.join(self.vocab.decode(ids))

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "tokenizer": self.tokenizer.config(),
                "tokens": list(self.vocab.tokens)}

    @classmethod
    def from_json(cls, data, where: str = "codec data") -> "TextCodec":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CodecFileError(f"{where} is not a zoo TextCodec file (no \"format\": {FORMAT!r}); "
                                 "pass a file written by TextCodec.save")
        if data.get("version") != VERSION:
            raise CodecFileError(f"{where} has codec format version {data.get('version')!r}; this zoo reads "
                                 f"version {VERSION}. Rebuild the codec from the training text and save it again")
        try:
            settings = dict(data["tokenizer"])
            tokenizer = make_tokenizer(settings.pop("name"), **settings)
            return cls(tokenizer, Vocab(tuple(data["tokens"])))
        except (KeyError, TypeError, ValueError) as err:
            raise CodecFileError(f"{where} is a damaged TextCodec file ({type(err).__name__}: {err}); "
                                 "rebuild the codec from the training text and save it again") from err

    def save(self, path: str | os.PathLike) -> Path:
        """Write JSON atomically (a crash leaves the old file or none, never half of one)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TextCodec":
        path = Path(path)
        if not path.is_file():
            raise CodecFileError(f"no codec file at {path}; save one with TextCodec.save or check the path")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CodecFileError(f"{path} is not valid JSON ({err}); pass a file written by TextCodec.save") from err
        return cls.from_json(data, str(path))


def load_codec(path: str | os.PathLike):
    """The codec a run saved (codec.json): a TextCodec, or the pretrained BPE it names (zoo.text.bpe_codec)."""
    path = Path(path)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None  # TextCodec.load says what is wrong
        if isinstance(data, dict) and data.get("format") == "zoo.text.BPECodec":
            from zoo.text.bpe_codec import BPECodec

            return BPECodec.from_json(data, str(path))
    return TextCodec.load(path)
