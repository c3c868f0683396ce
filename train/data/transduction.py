"""Offline string-transduction data sets for seq2seq models, generated from a fixed seed.

* `reverse`: random strings of 3-12 symbols over 20 letters (a-t) -> the same string reversed.
* `sort`:    the same kind of strings -> their symbols in alphabetical order.
* `dates`:   dates written the ways people write them ('march 3, 1994', '03/03/94', '3 mar 1994',
             'thursday, march 3rd, 1994', ...) -> ISO 8601 '1994-03-03', character by character.

Every set is character-level, with one `TextCodec` over all its symbols (source and target share it, so
`src_vocab_size == tgt_vocab_size == num_classes == len(codec.vocab)`). x = source ids [N, S], y = target ids
followed by `<eos>` [N, T], both right-padded with 0 to one length per data set (the sequences are short, so
one padded shape is cheaper than several compiled ones). Splits are fixed: 20,000 / 1,000 / 2,000 examples,
and no test or validation source appears in train (`dates` holds out whole dates: a test date is never seen
in train in any format).
"""
from __future__ import annotations

import datetime
import functools
import string

import numpy as np

from train.data.sources import Dataset
from zoo.text import SPECIALS, CharTokenizer, TextCodec, Vocab
from zoo.errors import DataError

SIZES = {"train": 20_000, "validation": 1_000, "test": 2_000}
SEED = 0  # the data set is a property of the data, not of the run's seed
SYMBOLS = string.ascii_lowercase[:20]  # a-t
MIN_LENGTH, MAX_LENGTH = 3, 12


class PairSource:
    """Source and target token ids, already right-padded: `take` is one gather, int32 both."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        if len(x) != len(y):
            raise DataError(f"{len(x)} sources but {len(y)} targets")
        self.x, self.y = np.array(x, np.int32), np.array(y, np.int32)
        for array in (self.x, self.y):  # shared by every load() of the cached set
            array.flags.writeable = False

    def __len__(self) -> int:
        return len(self.x)

    def take(self, indices):
        """x int32 [n, S], y int32 [n, T] (0 = padding)."""
        return self.x[indices], self.y[indices]


def _pad(rows: list[np.ndarray], length: int) -> np.ndarray:
    """Right-pad id rows with 0 to [len(rows), length]."""
    out = np.zeros((len(rows), length), np.int32)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def _dataset(name: str, pairs: dict[str, list[tuple[str, str]]], codec: TextCodec, description: str) -> Dataset:
    """(source text, target text) pairs per split -> a seq2seq Dataset padded to one shape across splits."""
    encoded = {split: ([codec.encode(s) for s, _ in rows], [codec.encode(t, add_eos=True) for _, t in rows])
               for split, rows in pairs.items()}
    return _padded_dataset(name, encoded, codec, description)


def _char_codec(symbols) -> TextCodec:
    return TextCodec(CharTokenizer(), Vocab(SPECIALS + tuple(sorted(set(symbols)))))


def _distinct_strings(rng: np.random.Generator, count: int) -> list[str]:
    """`count` different random strings over SYMBOLS, lengths uniform in [MIN_LENGTH, MAX_LENGTH]."""
    seen: dict[str, None] = {}  # insertion-ordered, so the result depends on the seed only
    while len(seen) < count:
        lengths = rng.integers(MIN_LENGTH, MAX_LENGTH + 1, count)
        letters = np.asarray(list(SYMBOLS))[rng.integers(0, len(SYMBOLS), (count, MAX_LENGTH))]
        for row, length in zip(letters, lengths):
            seen.setdefault("".join(row[:length]), None)
    return list(seen)[:count]


def _split(items: list) -> dict[str, list]:
    test_end = SIZES["test"]
    val_end = test_end + SIZES["validation"]
    return {"train": items[val_end:val_end + SIZES["train"]], "validation": items[test_end:val_end],
            "test": items[:test_end]}


@functools.lru_cache(maxsize=None)
def _symbol_task(name: str) -> Dataset:
    strings = _distinct_strings(np.random.default_rng([SEED, 1 if name == "reverse" else 2]), sum(SIZES.values()))
    transform = (lambda s: s[::-1]) if name == "reverse" else (lambda s: "".join(sorted(s)))
    pairs = {split: [(s, transform(s)) for s in rows] for split, rows in _split(strings).items()}
    what = "reversed" if name == "reverse" else "sorted alphabetically"
    return _dataset(name, pairs, _char_codec(SYMBOLS),
                    f"{name}: strings of {MIN_LENGTH}-{MAX_LENGTH} symbols over a-t -> the string {what}")


# --- dates ---------------------------------------------------------------------------------------------

FIRST_DATE, LAST_DATE = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)  # two-digit years stay unambiguous
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


# '/' always puts the month first (US style) and '.' the day first (European), so no format is ambiguous.
DATE_FORMATS = (
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",  # march 3, 1994
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",  # mar 3, 1994
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",  # 3 march 1994
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",  # 3 mar 1994
    lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",  # 03/03/94
    lambda d: f"{d.month}/{d.day}/{d.year}",  # 3/3/1994
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",  # 03.03.1994
    # thursday, march 3rd, 1994
    lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {_ordinal(d.day)}, {d.year}",
    lambda d: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",  # the 3rd of march 1994
)


def write_date(date: datetime.date, style: int) -> str:
    """`date` in human format number `style` (see DATE_FORMATS)."""
    return DATE_FORMATS[style](date)


@functools.lru_cache(maxsize=None)
def _dates() -> Dataset:
    rng = np.random.default_rng([SEED, 3])
    days = np.arange((LAST_DATE - FIRST_DATE).days + 1)
    order = [FIRST_DATE + datetime.timedelta(days=int(i)) for i in rng.permutation(days)]
    dates = _split(order)  # whole dates held out: a test date appears in no train example
    pairs = {split: [(write_date(d, int(rng.integers(len(DATE_FORMATS)))), d.isoformat()) for d in rows]
             for split, rows in dates.items()}
    symbols = {c for rows in pairs.values() for s, t in rows for c in s + t}
    return _dataset("dates", pairs, _char_codec(symbols),
                    f"dates: {FIRST_DATE.year}-{LAST_DATE.year} in {len(DATE_FORMATS)} written formats -> ISO "
                    "yyyy-mm-dd, character level")


# --- translation (TFDS, online) -------------------------------------------------------------------------

def translation(name: str, pairs: dict[str, list[tuple[str, str]]], options, description: str) -> Dataset:
    """Sentence pairs per split (e.g. from a TFDS translation set) -> a word-level seq2seq Dataset.

    One vocabulary over both languages, built from the train pairs only (`options.min_freq`, `vocab_size`;
    a joint vocabulary is what lets one codec serve both ends, as with joint BPE). Sources are cut to
    `options.max_length` tokens and targets to `max_length - 1` plus `<eos>`; every split is padded to one shape."""
    if "train" not in pairs or not pairs["train"]:
        raise DataError(f"{name}: no training pairs to build a vocabulary from")
    tokenizer = options.make_tokenizer("word")
    vocab = options.build_vocab(tokenizer(text) for pair in pairs["train"] for text in pair)
    codec = TextCodec(tokenizer, vocab)
    limit = options.bucket_lengths()[-1]
    encoded = {split: ([vocab.encode(tokenizer(src)[:limit]) for src, _ in rows],
                       [vocab.encode(tokenizer(tgt)[:limit - 1], add_eos=True) for _, tgt in rows])
               for split, rows in pairs.items()}
    return _padded_dataset(name, encoded, codec, description)


def _padded_dataset(name: str, encoded: dict[str, tuple[list[np.ndarray], list[np.ndarray]]], codec: TextCodec,
                    description: str) -> Dataset:
    src_len = max(len(r) for xs, _ in encoded.values() for r in xs)
    tgt_len = max(len(r) for _, ys in encoded.values() for r in ys)
    splits = {split: PairSource(_pad(xs, src_len), _pad(ys, tgt_len)) for split, (xs, ys) in encoded.items()}
    return Dataset(name, splits, "seq2seq", len(codec.vocab), (src_len,), description=description, codec=codec)


LOADERS = {"reverse": lambda: _symbol_task("reverse"), "sort": lambda: _symbol_task("sort"), "dates": _dates}


def load(name: str) -> Dataset:
    """A fresh `Dataset` object (the loop replaces splits in place) over the cached, read-only arrays."""
    cached = LOADERS[name]()
    return Dataset(cached.name, dict(cached.splits), cached.task, cached.num_classes, cached.input_shape,
                   description=cached.description, codec=cached.codec)
