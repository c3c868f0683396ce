"""Vocabulary: an immutable token list with the special tokens at fixed ids 0-3."""
from __future__ import annotations

import collections
import dataclasses
from typing import Iterable

import numpy as np

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIALS = (PAD, UNK, BOS, EOS)


@dataclasses.dataclass(frozen=True)
class Vocab:
    """`tokens[i]` is the token with id i; ids 0-3 are `<pad> <unk> <bos> <eos>`."""

    tokens: tuple[str, ...]
    _ids: dict[str, int] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        tokens = tuple(self.tokens)
        if tokens[:len(SPECIALS)] != SPECIALS:
            raise ValueError(f"a vocabulary starts with the special tokens {SPECIALS}; got {tokens[:4]}")
        ids = {token: i for i, token in enumerate(tokens)}
        if len(ids) != len(tokens):
            repeated = [t for t, n in collections.Counter(tokens).items() if n > 1]
            raise ValueError(f"vocabulary tokens must be unique; repeated: {repeated[:5]}")
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "_ids", ids)

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], *, min_freq: int = 1, max_size: int | None = None) -> "Vocab":
        """Tokens seen at least `min_freq` times, most frequent first (ties alphabetical, so the result
        depends only on the counts); `max_size` caps the total size, the 4 specials included."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        if max_size is not None and max_size < len(SPECIALS):
            raise ValueError(f"max_size must leave room for the {len(SPECIALS)} special tokens, got {max_size}")
        counts = collections.Counter()
        for tokens in token_lists:
            counts.update(tokens)
        for special in SPECIALS:  # a literal "<unk>" in the text must not get a second id
            counts.pop(special, None)
        kept = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size - len(SPECIALS)]
        return cls(SPECIALS + tuple(kept))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def id(self, token: str) -> int:
        return self._ids.get(token, UNK_ID)

    def encode(self, tokens: list[str], *, add_bos: bool = False, add_eos: bool = False) -> np.ndarray:
        """int32 [len(tokens) (+1 per added marker)]; unknown tokens map to UNK_ID."""
        ids = [BOS_ID] if add_bos else []
        ids += [self._ids.get(t, UNK_ID) for t in tokens]
        if add_eos:
            ids.append(EOS_ID)
        return np.asarray(ids, np.int32)

    def decode(self, ids, *, strip_special: bool = True) -> list[str]:
        """Tokens of `ids`; with `strip_special`, stop at the first `<eos>` and drop `<pad>`/`<bos>`
        (`<unk>` stays: it stands for a real word)."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.tokens)):
            raise ValueError(f"token ids must be in [0, {len(self.tokens)}); got {ids.min()}..{ids.max()}")
        out = []
        for i in ids.tolist():
            if strip_special:
                if i == EOS_ID:
                    break
                if i in (PAD_ID, BOS_ID):
                    continue
            out.append(self.tokens[i])
        return out
