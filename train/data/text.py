"""Text data sets: token sources with bucketed padding, language-model windows, CSV and plain-text loaders.

Every text set is tokenized once when loaded; the vocabulary comes from the examples that end up in the
train split only (validation and test words it never saw become `<unk>`, as they would for a new user).
"""
from __future__ import annotations

import collections
import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from train.data.sources import Dataset, MissingDataError, split_indices
from train.data.text_files import csv_rows, read_utf8
from zoo.errors import DataError, SettingError
from zoo.text import TextCodec, Vocab, make_tokenizer
from zoo.text.bpe_codec import BPECodec, is_bpe_name
from zoo.text.wordpiece_codec import WordPieceCodec, is_wordpiece_name

TEXT_COLUMNS = ("text", "review", "sentence")
LABEL_COLUMNS = ("label", "score", "sentiment", "target")
TEST_FRACTION = 0.2  # held out as test when a CSV comes without a test file
TEST_SEED = 0  # the held-out test set is a property of the data, not of the run's seed
LM_SPLIT = (0.90, 0.05, 0.05)  # train / validation / test, by position in a plain-text corpus


class TextDataError(DataError):
    """A text file that cannot serve as the data set asked for (columns, labels, too little text)."""


@dataclasses.dataclass(frozen=True)
class TextOptions:
    """How a text data set is read and tokenized (CLI: --text-column, --tokenizer, --vocab-size, ...)."""

    text_column: str = ""  # "" = guess: text / review / sentence
    label_column: str = ""  # "" = guess: label / score / sentiment / target
    # 'word' | 'char' | a pretrained WordPiece ('minilm' or a tokenizer.json path; classification sets only);
    # "" = the data set's own default (word; char for plain-text corpora)
    tokenizer: str = ""
    vocab_size: int = 20000  # most tokens kept, the 4 specials included
    min_freq: int = 2  # a token seen fewer times in train becomes <unk>
    max_length: int = 256  # longer texts are truncated (classification)
    buckets: tuple[int, ...] = (32, 64, 128, 256)  # lengths a batch may be padded to
    seq_len: int = 128  # language-model window length

    def bucket_lengths(self) -> tuple[int, ...]:
        """The padded lengths batches may take: buckets up to max_length, and max_length itself."""
        if self.max_length < 1:
            raise SettingError(f"max_length must be at least 1, got {self.max_length}")
        return tuple(sorted({b for b in self.buckets if 0 < b <= self.max_length} | {self.max_length}))

    def make_tokenizer(self, default: str):
        if is_bpe_name(self.tokenizer):
            raise SettingError(f"--tokenizer {self.tokenizer} is a pretrained byte-level BPE, which serves "
                               "language-model sets (--data shakespeare, text:FILE); this data set builds its own "
                               "vocabulary: use --tokenizer word or char")
        if is_wordpiece_name(self.tokenizer):
            raise SettingError(f"--tokenizer {self.tokenizer} is a pretrained model's WordPiece vocabulary, which "
                               "serves text classification sets; language-model, seq2seq and corpus sets build "
                               "their own vocabulary: use --tokenizer word or char")
        return make_tokenizer(self.tokenizer or default)

    def build_vocab(self, token_lists) -> Vocab:
        return Vocab.build(token_lists, min_freq=self.min_freq, max_size=self.vocab_size)


class TokenSource:
    """Token sequences and their labels; each batch is right-padded with 0 to the smallest bucket length that
    holds its longest sequence, so a whole run compiles at most len(buckets) input shapes."""

    def __init__(self, sequences: list[np.ndarray], labels: np.ndarray, buckets: Sequence[int]):
        if len(sequences) != len(labels):
            raise SettingError(f"{len(sequences)} sequences but {len(labels)} labels")
        self.buckets = tuple(sorted(buckets))
        self.lengths = np.asarray([len(s) for s in sequences], np.int64)
        if len(sequences) and self.lengths.max() > self.buckets[-1]:
            raise SettingError(f"a sequence of {self.lengths.max()} tokens is longer than the largest bucket "
                             f"{self.buckets[-1]}; truncate to max_length first")
        # One flat array + offsets: 25k reviews as 25k small arrays would cost more in headers than in tokens.
        self.tokens = np.concatenate([np.asarray(s, np.int32) for s in sequences]) if sequences else \
            np.zeros(0, np.int32)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.labels = np.asarray(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def sequence(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]

    def padded_length(self, longest: int) -> int:
        return self.buckets[int(np.searchsorted(self.buckets, longest))]

    def take(self, indices):
        """x int32 [n, L] (0 = padding, on the right), y labels [n]."""
        indices = np.asarray(indices, np.int64)
        lengths = self.lengths[indices]
        x = np.zeros((len(indices), self.padded_length(int(lengths.max(initial=0)))), np.int32)
        for row, i in enumerate(indices):
            x[row, :lengths[row]] = self.sequence(i)
        return x, self.labels[indices]


class WindowSource:
    """Non-overlapping language-model windows of a token stream: window i is x = ids[iT:(i+1)T] and
    y = ids[iT+1:(i+1)T+1], the next token at every position."""

    def __init__(self, ids: np.ndarray, seq_len: int):
        self.ids = np.asarray(ids, np.int32)
        self.seq_len = int(seq_len)
        if self.seq_len < 1:
            raise SettingError(f"seq_len must be at least 1, got {seq_len}")
        if len(self.ids) < self.seq_len + 1:
            raise SettingError(f"{len(self.ids)} tokens cannot fill one window of seq_len={seq_len} plus its next "
                             f"token; use a smaller --seq-len or more text")

    def __len__(self) -> int:
        return (len(self.ids) - 1) // self.seq_len

    def take(self, indices):
        """x int32 [n, T], y int32 [n, T]."""
        positions = np.asarray(indices, np.int64)[:, None] * self.seq_len + np.arange(self.seq_len)  # [n, T]
        return self.ids[positions], self.ids[positions + 1]


# --- text classification -------------------------------------------------------------------------------

def text_classification(name: str, train: tuple[list[str], np.ndarray], test: tuple[list[str], np.ndarray],
                        class_names: list[str], options: TextOptions, *, validation_fraction: float, seed: int,
                        description: str) -> Dataset:
    """A classification `Dataset` of TokenSources; validation is carved from train before the vocabulary
    is built, so the codec has seen the train split only. A pretrained WordPiece tokenizer brings its own
    vocabulary instead: ids [CLS] text [SEP] in it, truncated to max_length tokens, padded with its [PAD]."""
    keep, held_out = split_indices(len(train[0]), validation_fraction, seed)
    if is_wordpiece_name(options.tokenizer):
        codec = WordPieceCodec.named(options.tokenizer)
        pad_id, description = codec.pad_id, f"{description}; {codec.name} WordPiece tokens"

        def encode(texts) -> list[np.ndarray]:
            return [codec.encode(t, max_length=options.max_length) for t in texts]

        train_ids = encode(train[0])
    else:
        tokenizer = options.make_tokenizer("word")
        train_tokens = [tokenizer(t) for t in train[0]]
        codec = TextCodec(tokenizer, options.build_vocab(train_tokens[i] for i in keep))
        pad_id = None  # the codec's <pad>

        def encode(texts) -> list[np.ndarray]:
            return [codec.vocab.encode(tokenizer(t)[:options.max_length]) for t in texts]

        train_ids = [codec.vocab.encode(t[:options.max_length]) for t in train_tokens]  # tokenized once
    buckets = options.bucket_lengths()
    labels = np.asarray(train[1])
    splits = {"train": TokenSource([train_ids[i] for i in keep], labels[keep], buckets)}
    if held_out is not None:
        splits["validation"] = TokenSource([train_ids[i] for i in held_out], labels[held_out], buckets)
    splits["test"] = TokenSource(encode(test[0]), np.asarray(test[1]), buckets)
    return Dataset(name, splits, "classification", len(class_names), (buckets[-1],), class_names=class_names,
                   description=description, codec=codec, pad_id=pad_id)


def label_ids(train_labels: list[str], test_labels: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Class ids in sorted label order (numeric order when every label is an integer, so '10' follows '9')."""
    def order(label):
        return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)
    names = sorted(set(train_labels), key=order)
    ids = {label: i for i, label in enumerate(names)}
    unseen = sorted(set(test_labels) - set(ids))
    if unseen:
        raise TextDataError(f"test labels {unseen[:5]} never occur in train (train has {names[:10]}); "
                         "check --label-column or the train/test files")
    return (np.asarray([ids[l] for l in train_labels], np.int32), np.asarray([ids[l] for l in test_labels], np.int32),
            names)


def _pick_column(header: list[str], wanted: str, candidates: tuple[str, ...], role: str, flag: str, path: Path) -> str:
    if wanted:
        if wanted in header:
            return wanted
        raise TextDataError(f"{path} has no column {wanted!r} ({role}); its columns are {header}. Fix {flag}")
    lowered = {c.strip().lower(): c for c in header}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    raise TextDataError(f"{path}: cannot tell which column holds the {role}: none is named "
                     f"{' / '.join(candidates)}; its columns are {header}. Pass {flag} NAME")


def read_csv(path: Path, options: TextOptions) -> tuple[list[str], list[str], tuple[str, str]]:
    """(texts, labels, (text_column, label_column)) of a CSV file with a header row."""
    with csv_rows(path) as reader:
        header = next(reader, None)
        if not header:
            raise TextDataError(f"{path} is empty; a text CSV needs a header row and one row per example")
        text_col = _pick_column(header, options.text_column, TEXT_COLUMNS, "text", "--text-column", path)
        label_col = _pick_column(header, options.label_column, LABEL_COLUMNS, "labels", "--label-column", path)
        t, l = header.index(text_col), header.index(label_col)
        texts, labels = [], []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) <= max(t, l) or not row[l].strip():
                raise TextDataError(f"{path}, row {line}: missing {text_col!r} or {label_col!r} value")
            texts.append(row[t])
            labels.append(row[l].strip())
    if not texts:
        raise TextDataError(f"{path} has a header but no examples")
    return texts, labels, (text_col, label_col)


def sibling_test_file(train_path: Path) -> Path | None:
    """`x_train.csv` -> `x_test.csv` when that file exists."""
    if "train" not in train_path.name:
        return None
    candidate = train_path.with_name(train_path.name.replace("train", "test"))
    return candidate if candidate.is_file() else None


def rows_needed(fractions: Sequence[float], train_rows: int = 1) -> int:
    """The fewest rows that leave `train_rows` train examples once each fraction in turn is held out (a held-out
    part takes at least one row, as split_indices does)."""
    n = 1
    while _train_left(n, fractions) < train_rows:
        n += 1
    return n


def _train_left(n: int, fractions: Sequence[float]) -> int:
    for fraction in fractions:
        n = len(split_indices(n, fraction, 0)[0])
    return n


def check_enough_rows(path: Path, labels: list[str], *, held_out_test: bool, validation_fraction: float) -> None:
    """A file too small to split would fail later as an empty split or a test label 'never seen in train'. Train
    must keep at least one row per class; the split is random, so that is necessary, not always enough
    (check_held_out_classes catches the rest)."""
    n, classes = len(labels), len(set(labels))
    carved = ([("test", TEST_FRACTION)] if held_out_test else []) + \
        ([("validation", validation_fraction)] if validation_fraction > 0 else [])
    need = rows_needed([fraction for _, fraction in carved], classes)
    if n >= need:
        return
    splits = ["train", *(split for split, _ in carved)]
    how = ", then ".join(f"{fraction:.0%} as {split}" for split, fraction in carved)
    # Only the ways that would make this file enough.
    ways = [way for way, split in (("give a separate test file as csv:TRAIN.csv,TEST.csv", "test"),
                                   ("pass --validation-fraction 0 to skip validation", "validation"))
            if split in splits and n >= rows_needed([f for other, f in carved if other != split], classes)]
    raise TextDataError(
        f"{path} has {n} example row{'s' if n != 1 else ''}, too few to split into {', '.join(splits[:-1])} and "
        f"{splits[-1]}: it needs at least {need}, so that after zoo holds out {how} (at least one row each) the "
        f"train split keeps one row per class ({classes} here). Add rows (a "
        f"classifier needs dozens per class to learn anything){''.join(', or ' + way for way in ways)}.")


def check_two_classes(path: Path, labels: list[str], label_column: str) -> None:
    names = sorted(set(labels))
    if len(names) < 2:
        raise TextDataError(
            f"{path}: every row has the same {label_column!r} value, {names[0]!r}, and a classifier needs at least "
            f"two classes to tell apart. Add rows of the other class(es), or, if the labels live in another "
            f"column, name it with --label-column.")


def check_held_out_classes(path: Path, train_labels: list[str], test_labels: list[str], label_column: str) -> None:
    """When test is carved out of the file, a class with very few rows can land in test only."""
    missing = sorted(set(test_labels) - set(train_labels))
    if missing:
        counts = collections.Counter(train_labels) + collections.Counter(test_labels)
        rows = ", ".join(f"{label!r}: {counts[label]} row{'s' if counts[label] != 1 else ''}" for label in missing[:5])
        raise TextDataError(
            f"{path}: the {label_column!r} class(es) {rows} all fell into the {TEST_FRACTION:.0%} held out as test, "
            f"leaving none to train on: the file has too few rows of them. Add rows of those classes, or give a "
            f"separate test file as csv:TRAIN.csv,TEST.csv.")


def load_csv(spec: str, options: TextOptions, *, validation_fraction: float, seed: int, name: str | None = None
             ) -> Dataset:
    """`spec` is 'TRAIN.csv' or 'TRAIN.csv,TEST.csv'. One file: its '_test' sibling if present, otherwise a
    seeded 20% of it is held out as test."""
    paths = [Path(p).expanduser() for p in spec.split(",") if p.strip()]
    if not 1 <= len(paths) <= 2:
        raise TextDataError(f"csv:{spec} — give csv:TRAIN.csv or csv:TRAIN.csv,TEST.csv")
    for path in paths:
        if not path.is_file():
            raise MissingDataError(f"no CSV file at {path}; check the path given to csv:")
    test_path = paths[1] if len(paths) == 2 else sibling_test_file(paths[0])
    train_texts, train_labels, columns = read_csv(paths[0], options)
    check_enough_rows(paths[0], train_labels, held_out_test=test_path is None,
                      validation_fraction=validation_fraction)
    check_two_classes(paths[0], train_labels, columns[1])
    if test_path is not None:
        test_texts, test_labels, _ = read_csv(test_path, dataclasses.replace(
            options, text_column=columns[0], label_column=columns[1]))
        where = f"train {paths[0]}, test {test_path}"
    else:
        keep, held = split_indices(len(train_texts), TEST_FRACTION, TEST_SEED)
        test_texts, test_labels = [train_texts[i] for i in held], [train_labels[i] for i in held]
        train_texts, train_labels = [train_texts[i] for i in keep], [train_labels[i] for i in keep]
        check_held_out_classes(paths[0], train_labels, test_labels, columns[1])
        where = f"{paths[0]} ({TEST_FRACTION:.0%} held out as test)"
    train_y, test_y, class_names = label_ids(train_labels, test_labels)
    return text_classification(
        name or f"csv:{spec}", (train_texts, train_y), (test_texts, test_y), class_names, options,
        validation_fraction=validation_fraction, seed=seed,
        description=f"text classification from CSV: {where}; text {columns[0]!r}, label {columns[1]!r}")


# --- language modelling --------------------------------------------------------------------------------

def language_model(name: str, split_tokens: dict[str, list[str]], tokenizer, options: TextOptions,
                   description: str) -> Dataset:
    """A language-model `Dataset` of WindowSources from the 'train'/'validation'/'test' token streams that
    `tokenizer` made."""
    codec = TextCodec(tokenizer, options.build_vocab([split_tokens["train"]]))
    splits = {}
    for split, tokens in split_tokens.items():
        try:
            splits[split] = WindowSource(codec.vocab.encode(tokens), options.seq_len)
        except ValueError as err:
            raise TextDataError(f"{name}: the {split} split is too short: {err}") from None
    return Dataset(name, splits, "language_model", len(codec.vocab), (options.seq_len,), description=description,
                   codec=codec)


def language_model_bpe(name: str, split_texts: dict[str, str], options: TextOptions, description: str) -> Dataset:
    """A language-model `Dataset` of WindowSources over a pretrained byte-level BPE's ids of each split's text
    (`options.tokenizer`: 'smollm2' or a .gguf path). The vocabulary is the tokenizer's, whole; windows are never
    padded (pad_id -1: every target counts)."""
    codec = BPECodec.named(options.tokenizer)
    splits = {}
    for split, text in split_texts.items():
        try:
            splits[split] = WindowSource(codec.encode(text), options.seq_len)
        except SettingError as err:
            raise TextDataError(f"{name}: the {split} split is too short: {err}") from None
    return Dataset(name, splits, "language_model", len(codec.vocab), (options.seq_len,),
                   description=f"{description}; {codec.name} byte-level BPE tokens", codec=codec, pad_id=-1)


def split_by_position(tokens, fractions=LM_SPLIT) -> dict[str, list[str]]:
    """First 90% train, next 5% validation, last 5% test (contiguous: no window straddles two splits). `tokens`
    is a list of tokens, or a text (split by characters)."""
    n = len(tokens)
    a, b = int(n * fractions[0]), int(n * (fractions[0] + fractions[1]))
    return {"train": tokens[:a], "validation": tokens[a:b], "test": tokens[b:]}


def load_text_file(path: str | Path, options: TextOptions, name: str | None = None) -> Dataset:
    """A plain UTF-8 text corpus for language modelling (character tokens unless options.tokenizer says)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingDataError(f"no text file at {path}; check the path given to text:")
    if is_bpe_name(options.tokenizer):
        return language_model_bpe(name or f"text:{path}", split_by_position(read_utf8(path)), options,
                                  f"language modelling on {path} (90/5/5 split by position)")
    tokenizer = options.make_tokenizer("char")
    tokens = tokenizer(read_utf8(path))
    return language_model(name or f"text:{path}", split_by_position(tokens), tokenizer, options,
                          f"{tokenizer.name}-level language modelling on {path} (90/5/5 split by position)")
