"""The merge step of byte-pair encoding: one word, already spelled in bytes, into vocabulary ids.

    >>> bpe = BPE({"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4}, [("b", "c"), ("a", "b")])
    >>> bpe("abc")      # 'b c' ranks first, and leaves no 'a b' to merge
    (0, 4)

Merging follows `tokenizers`' BPE model exactly: the pair of adjacent symbols whose merge ranks first is
merged, the leftmost of equal pairs first, until no pair has a merge; results are cached per word.
"""
from __future__ import annotations

import dataclasses
import heapq
from typing import Sequence

from zoo.text.tokenizer_json import TokenizerFileError


@dataclasses.dataclass(frozen=True, eq=False)
class BPE:
    """Byte-pair merges of single words (already spelled in bytes) into vocabulary ids.

    `merges[r]` = (left, right) is applied before any merge ranked after it; among equal ranks the
    leftmost pair goes first. A character the vocabulary lacks becomes `unk_token` or, without one, is
    dropped, as in `tokenizers` (SmolLM2's vocabulary has no token for the bytes 0x04, 0xC0, 0xFF ...,
    which UTF-8 text rarely or never contains).
    """

    vocab: dict[str, int]
    merges: Sequence[tuple[str, str]]
    unk_token: str | None = None
    fuse_unk: bool = False
    ignore_merges: bool = False  # a word that is a token is that token, whatever the merges say (Llama 3)
    cache_size: int = 100_000

    def __post_init__(self):
        ranks: dict[tuple[int, int], tuple[int, int]] = {}  # (left id, right id) -> (rank, merged id)
        for rank, (left, right) in enumerate(self.merges):
            ids = self.vocab.get(left), self.vocab.get(right), self.vocab.get(left + right)
            if None in ids:
                missing = (left, right, left + right)[ids.index(None)]
                raise TokenizerFileError(
                    f"merge {rank} ({left!r} + {right!r}) needs the token {missing!r}, which is not in the "
                    "vocabulary; the vocabulary and merges come from different tokenizers, pass the pair saved "
                    "together")
            ranks[ids[0], ids[1]] = (rank, ids[2])  # a repeated pair keeps its last rank, as in tokenizers
        if self.unk_token is not None and self.unk_token not in self.vocab:
            raise TokenizerFileError(f"the unknown token {self.unk_token!r} is not in the BPE vocabulary; "
                                     "pass a vocabulary that has it, or unk_token=None")
        object.__setattr__(self, "_ranks", ranks)
        object.__setattr__(self, "_cache", {})

    def __call__(self, word: str) -> tuple[int, ...]:
        ids = self._cache.get(word)
        if ids is None:
            if len(self._cache) >= self.cache_size:  # bounded, so a stream of unique words cannot fill memory
                self._cache.clear()
            ids = self._cache[word] = self._merge(word)
        return ids

    def _symbols(self, word: str) -> list[int]:
        unk = None if self.unk_token is None else self.vocab[self.unk_token]
        symbols: list[int] = []
        for char in word:
            token_id = self.vocab.get(char)
            if token_id is None:
                if unk is None or (self.fuse_unk and symbols and symbols[-1] == unk):
                    continue
                token_id = unk
            symbols.append(token_id)
        return symbols

    def _merge(self, word: str) -> tuple[int, ...]:
        if self.ignore_merges and word in self.vocab:
            return (self.vocab[word],)
        ids: list[int | None] = self._symbols(word)
        n = len(ids)
        ranks = self._ranks
        # A linked list over the symbols and a heap of (rank, position) for the pairs, as in tokenizers:
        # O(n log n) per word, and exactly its order (lowest rank, then leftmost).
        following = list(range(1, n + 1))  # n: no symbol after
        preceding = list(range(-1, n - 1))
        heap = [(ranks[pair][0], i) for i, pair in enumerate(zip(ids, ids[1:])) if pair in ranks]
        heapq.heapify(heap)
        while heap:
            rank, i = heapq.heappop(heap)
            j = following[i]
            if ids[i] is None or j == n:  # merged into its left neighbour, or nothing to its right
                continue
            merge = ranks.get((ids[i], ids[j]))
            if merge is None or merge[0] != rank:  # an entry made stale by an earlier merge
                continue
            ids[i], ids[j] = merge[1], None
            after = following[i] = following[j]
            if after < n:
                preceding[after] = i
                if (ids[i], ids[after]) in ranks:
                    heapq.heappush(heap, (ranks[ids[i], ids[after]][0], i))
            before = preceding[i]
            if before >= 0 and (ids[before], ids[i]) in ranks:
                heapq.heappush(heap, (ranks[ids[before], ids[i]][0], before))
        return tuple(token_id for token_id in ids if token_id is not None)
