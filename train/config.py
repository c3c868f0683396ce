"""Run configuration: frozen dataclasses that flow one way, CLI -> config -> loop."""
from __future__ import annotations

import dataclasses
from typing import Any

from train.optim import OptimConfig
from zoo.registry import model_card


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    model: str
    dataset: str = ""  # "" -> the card's default_dataset
    data_dir: str | None = None
    model_overrides: tuple[tuple[str, Any], ...] = ()  # extra zoo.create() fields, e.g. (("hidden", (256,)),)
    loss: str = ""  # "" -> the card's loss
    l2: float = 0.0  # L2 penalty added to the loss (the SVM's regulariser)
    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int = 0  # 0 -> a multiple of batch_size near 1024
    optim: OptimConfig = OptimConfig()
    seed: int = 0
    validation_fraction: float = 0.1  # held out of train when the data set ships no validation split
    limit_train: int = 0  # use only the first N training examples (quick runs); 0 = all
    limit_test: int = 0  # evaluate on the first N test examples only (quick runs); 0 = all
    patience: int = 0  # early stopping: epochs without validation-loss improvement; 0 = off
    min_delta: float = 0.0
    parallel: str = "jit"  # 'jit' (Mesh + NamedSharding) or 'pmap'
    checkpoint_every: int = 0  # also save every N steps inside an epoch
    # Save at the end of every N-th epoch (and of the last): raise it when epochs are a step or two long
    # (full-graph node tasks), where saving would cost more than training.
    checkpoint_epochs: int = 1
    keep_checkpoints: int = 3
    resume: bool = False
    log_every: int = 50  # steps between host syncs (progress bar, NaN check)
    progress: bool = True
    plots: bool = True
    # Image inputs, transformed on the device inside the step (see train.augment).
    image_size: int = 0  # resize to S x S (bilinear), train and eval; 0 = unchanged
    channels: int = 0  # 3 repeats grey images into RGB; 0 = unchanged (3 when pretrained weights meet grey data)
    # Per-channel ((mean, ...), (std, ...)), or "auto" (the card's preprocessing mean/std when pretrained
    # weights are loaded, since they expect normalised inputs; otherwise none), "card", or "none".
    normalize: Any = "auto"
    crop_padding: int = 0  # train only: random crop after zero-padding by this many pixels
    flip: bool = False  # train only: random horizontal flip
    color_jitter: float = 0.0  # train only: brightness/contrast/saturation factors in [1 - j, 1 + j]
    # Transfer learning (see train.transfer).
    pretrained: str = ""  # zoo.weights.load_pretrained source: a path or a named source such as "imagenet"
    freeze_backbone: bool = False  # train only the card's head params; backbone in inference mode
    backbone_lr_scale: float = 1.0  # full fine-tuning: backbone updates x this (head at the full rate)
    # Text inputs (see train.data.text.TextOptions; 0 / "" = the data set's default).
    text_column: str = ""  # csv: data sets: the column holding the text
    label_column: str = ""  # csv: data sets: the column holding the label
    tokenizer: str = ""  # 'word' or 'char'
    vocab_size: int = 0  # most frequent tokens kept (specials included); the rest map to <unk>
    min_freq: int = 0  # tokens seen fewer times in train map to <unk>
    max_length: int = 0  # texts are truncated to this many tokens
    seq_len: int = 0  # language models: tokens per training window
    # Pretrained word vectors for the model's `embed` table: "glove" (GloVe 6B-50d) or a
    # zoo.text.WordVectors .npz file; rows for words without a vector stay randomly initialised.
    embeddings: str = ""
    freeze_embeddings: bool = False  # keep the embedding table fixed (sets the model's freeze_embeddings)

    def text_options(self):
        """The data set's text settings, from the fields above that are set."""
        from train.data.text import TextOptions

        given = {name: getattr(self, name) for name in
                 ("text_column", "label_column", "tokenizer", "vocab_size", "min_freq", "max_length", "seq_len")}
        return TextOptions(**{k: v for k, v in given.items() if v})


_OPTIM_KEYS = {f.name for f in dataclasses.fields(OptimConfig)} | {"optimizer"}


def config_for(model: str, **settings: Any) -> TrainConfig:
    """The card's recipe for `model`, with `settings` (None = keep the recipe) on top.

    Optimizer settings may be given flat (optimizer=, lr=, schedule=, ...).
    """
    merged = {**model_card(model).recipe, **{k: v for k, v in settings.items() if v is not None}}
    optim = {("name" if k == "optimizer" else k): v for k, v in merged.items() if k in _OPTIM_KEYS}
    rest = {k: v for k, v in merged.items() if k not in _OPTIM_KEYS}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(rest) - known)
    if unknown:
        raise TypeError(f"unknown training setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known | _OPTIM_KEYS))}")
    if isinstance(rest.get("model_overrides"), dict):
        rest["model_overrides"] = tuple(sorted(rest["model_overrides"].items()))
    if isinstance(rest.get("normalize"), (list, tuple)):  # hashable, like the frozen dataclass it goes in
        rest["normalize"] = tuple(tuple(float(v) for v in part) for part in rest["normalize"])
    return TrainConfig(model=model, optim=OptimConfig(**optim), **rest)
