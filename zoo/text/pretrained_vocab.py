"""A pretrained tokenizer's vocabulary as the data pipeline asks for it: its size, its tokens in id order, id
lookups (the interface of zoo.text.Vocab, for the WordPiece and BPE codecs)."""
from __future__ import annotations


class TokenizerVocabulary:
    def __init__(self, tokenizer, size: int):
        self._tokenizer = tokenizer
        self.tokens = tuple(tokenizer.id_to_token(i) for i in range(size))

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)
