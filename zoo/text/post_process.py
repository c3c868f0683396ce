"""After the words are ids: truncation, the special-token template ([CLS] A [SEP] B [SEP]) and padding.

The rules are those of Hugging Face `tokenizers`, so a tokenizer.json behaves the same here and there:
truncation leaves room for the template's special tokens, `longest_first` shortens the longer of a
pair first (splitting the budget evenly when both are long), and padding fills [B, T] arrays.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from zoo.errors import SettingError

TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")
DIRECTIONS = ("right", "left")


@dataclasses.dataclass(frozen=True)
class TemplateItem:
    """One entry of a template: a special token's ids, or the sequence 'A' or 'B'; with its token type."""

    sequence: str | None  # 'A' or 'B' for the text itself, None for a special token
    ids: tuple[int, ...] = ()
    type_id: int = 0


@dataclasses.dataclass(frozen=True)
class Template:
    """What a post-processor adds: `single` for one text, `pair` for two."""

    single: tuple[TemplateItem, ...] = (TemplateItem("A"),)
    # No post-processor in the file: the texts one after the other, all of token type 0, as in tokenizers.
    pair: tuple[TemplateItem, ...] = (TemplateItem("A"), TemplateItem("B"))

    def num_special(self, is_pair: bool) -> int:
        return sum(len(item.ids) for item in (self.pair if is_pair else self.single))

    def apply(self, ids_a: list[int], ids_b: list[int] | None, add_special_tokens: bool = True
              ) -> tuple[list[int], list[int]]:
        """(ids, token type ids) of the whole sequence; without special tokens the texts keep their types."""
        ids, type_ids = [], []
        for item in self.pair if ids_b is not None else self.single:
            if item.sequence is None and not add_special_tokens:
                continue
            part = item.ids if item.sequence is None else (ids_a if item.sequence == "A" else ids_b)
            ids.extend(part)
            type_ids.extend([item.type_id] * len(part))
        return ids, type_ids


@dataclasses.dataclass(frozen=True)
class Truncation:
    max_length: int
    strategy: str = "longest_first"
    direction: str = "right"

    def __post_init__(self):
        if self.max_length < 0:
            raise SettingError(f"truncation max_length must be 0 or more, got {self.max_length}")
        if self.strategy not in TRUNCATION_STRATEGIES:
            raise SettingError(f"unknown truncation strategy {self.strategy!r}; use one of "
                               f"{', '.join(TRUNCATION_STRATEGIES)}")
        if self.direction not in DIRECTIONS:
            raise SettingError(f"truncation direction must be 'right' or 'left', got {self.direction!r}")

    def _cut(self, ids: list[int], length: int) -> list[int]:
        if len(ids) <= length:
            return ids
        return ids[:length] if self.direction == "right" else ids[len(ids) - length:]

    def apply(self, ids_a: list[int], ids_b: list[int] | None, num_special: int
              ) -> tuple[list[int], list[int] | None]:
        """Shorten the texts so that they and `num_special` template tokens fit in `max_length`."""
        budget = self.max_length - num_special
        if budget < 0:
            raise SettingError(f"max_length {self.max_length} leaves no room for the {num_special} special "
                               f"tokens the template adds; use a max_length of at least {num_special}")
        n_a, n_b = len(ids_a), len(ids_b or ())
        if budget == 0:  # as in tokenizers: nothing of either text, whatever the strategy
            return [], None if ids_b is None else []
        if n_a + n_b <= budget:
            return ids_a, ids_b
        if ids_b is None and self.strategy == "only_second":
            raise SettingError("truncation strategy 'only_second' needs a pair of texts; use 'longest_first'")
        if ids_b is None and self.strategy == "longest_first":
            return self._cut(ids_a, budget), None
        if self.strategy == "longest_first":
            short, long = sorted((n_a, n_b))
            long = short if short > budget else max(short, budget - short)
            if short + long > budget:  # both are long: split the budget, the odd token to the longer one
                short, long = budget // 2, budget // 2 + budget % 2
            keep_a, keep_b = (long, short) if n_a > n_b else (short, long)
            return self._cut(ids_a, keep_a), self._cut(ids_b, keep_b)
        target = n_a if self.strategy == "only_first" else n_b
        excess = n_a + n_b - budget
        if target <= excess:
            raise SettingError(f"cannot truncate with {self.strategy!r} to max_length {self.max_length}: the "
                               "other text alone is too long; use strategy 'longest_first' or a larger max_length")
        if self.strategy == "only_first":
            return self._cut(ids_a, n_a - excess), ids_b
        return ids_a, self._cut(ids_b, n_b - excess)


@dataclasses.dataclass(frozen=True)
class Padding:
    """`length=None` pads to the longest row of the batch; a number pads every row to it."""

    length: int | None = None
    pad_id: int = 0
    pad_type_id: int = 0
    direction: str = "right"
    multiple_of: int | None = None

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise SettingError(f"padding direction must be 'right' or 'left', got {self.direction!r}")
        if self.length is not None and self.length < 0:
            raise SettingError(f"padding length must be 0 or more, got {self.length}")
        if self.multiple_of is not None and self.multiple_of < 1:
            raise SettingError(f"pad_to_multiple_of must be at least 1, got {self.multiple_of}")

    def target_length(self, longest: int) -> int:
        length = longest if self.length is None else self.length
        if longest > length:
            raise SettingError(f"a row has {longest} tokens, more than the fixed padding length {length}; "
                               f"enable truncation to max_length={length} or pad to the longest row instead")
        if self.multiple_of:
            length = -(-length // self.multiple_of) * self.multiple_of
        return length

    def apply(self, rows: Sequence[tuple[list[int], list[int]]]) -> dict[str, np.ndarray]:
        """input_ids, attention_mask, token_type_ids: int32 [B, T] from (ids, type ids) rows."""
        length = self.target_length(max((len(ids) for ids, _ in rows), default=0))
        input_ids = np.full((len(rows), length), self.pad_id, np.int32)
        type_ids = np.full((len(rows), length), self.pad_type_id, np.int32)
        mask = np.zeros((len(rows), length), np.int32)
        for row, (ids, types) in enumerate(rows):
            span = slice(0, len(ids)) if self.direction == "right" else slice(length - len(ids), length)
            input_ids[row, span] = ids
            type_ids[row, span] = types
            mask[row, span] = 1
        return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": type_ids}
