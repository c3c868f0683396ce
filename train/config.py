"""Run configuration: nested frozen dataclasses that flow one way, CLI -> config -> task and loop.

Every setting is defined once, here (or in `train.optim.OptimConfig`), with its default and its help text;
the command-line flags are generated from these fields (`train.cli.flags`), and `config_for` takes any of them
by its flat name (`config_for("mlp", lr=1e-3, flip=True)`), so a new setting is one edit.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterator

from zoo.errors import SettingError, UnknownFieldError
from zoo.registry import model_card


def setting(default: Any, help: str, *, at_least: float | None = None, above: float | None = None,
            below: float | None = None, **cli: Any) -> Any:
    """A config field: its default, its help text, the range it must lie in (`at_least` <= value, `above` <
    value, value < `below`; numbers are also finite), and argparse extras (flag, choices, metavar, type)."""
    bounds = {k: v for k, v in (("at_least", at_least), ("above", above), ("below", below)) if v is not None}
    return dataclasses.field(default=default, metadata={"help": help, "bounds": bounds, **cli})


_RANGES = {"at_least": (lambda v, b: v >= b, "at least"), "above": (lambda v, b: v > b, "above"),
           "below": (lambda v, b: v < b, "below")}


class _Checked:
    """Checks every field against its declared range when a section is built, so a bad value fails at once with
    the flag to fix, whether it came from the command line, a recipe or `config_for`."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value, bounds = getattr(self, f.name), f.metadata.get("bounds")
            if not bounds or value is None or isinstance(value, bool):
                continue
            flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SettingError(f"{flag} must be a finite number, got {value!r}")
            wanted = [f"{_RANGES[k][1]} {b:g}" for k, b in bounds.items()]
            if not all(_RANGES[k][0](value, b) for k, b in bounds.items()):
                raise SettingError(f"{flag} must be {' and '.join(wanted)}, got {value:g}")


@dataclasses.dataclass(frozen=True)
class DataConfig(_Checked):
    """data"""

    dataset: str = setting("", "data set name (default: the card's), tfds:NAME, csv:PATH, text:PATH or corpus:PATH",
                           flag="--data")
    data_dir: str | None = setting(None, "directory holding the data set's files (default: $ZOO_DATA_DIR)", type=str)
    validation_fraction: float = setting(0.1, "held out of train when the data set ships no validation split",
                                         at_least=0, below=1)
    limit_train: int = setting(0, "train on the first N examples only (0: all)", at_least=0)
    limit_test: int = setting(0, "evaluate on the first N test examples only (0: all)", at_least=0)
    limit_validation: int = setting(0, "validate on the first N validation examples only (0: all)", at_least=0)
    batch_size: int = setting(128, "examples per training step (the global batch, over all devices)",
                                 at_least=1)
    eval_batch_size: int = setting(0, "examples per evaluation step (0: a multiple of the batch size near 1024)",
                                      at_least=0)


@dataclasses.dataclass(frozen=True)
class OptimConfig(_Checked):
    """optimisation (train.optim builds the Optax chain from it)"""

    name: str = setting("adam", "sgd, momentum, nesterov, adam, adamw, rmsprop", flag="--optimizer")
    lr: float = setting(1e-3, "peak learning rate", above=0)
    momentum: float = setting(0.9, "momentum / nesterov / rmsprop momentum", at_least=0)
    weight_decay: float = setting(0.0, "decoupled for adamw, added to the gradient (L2) otherwise", at_least=0)
    schedule: str = setting("constant", "constant, step, cosine, linear")
    warmup_steps: int = setting(0, "linear warm-up from 0, before any schedule", at_least=0)
    decay_every: int = setting(0, "'step' schedule: steps between decays", at_least=0)
    decay_factor: float = setting(0.1, "'step' schedule: the factor at each decay", above=0)
    clip_norm: float = setting(0.0, "clip gradients to this global norm (0: off)", at_least=0)


@dataclasses.dataclass(frozen=True)
class ImageConfig(_Checked):
    """images (transformed on the device inside the step; augmentation in training only)"""

    image_size: int = setting(0, "resize images to SIZE x SIZE (bilinear), train and eval (0: unchanged)", at_least=0)
    channels: int = setting(0, "3 repeats grey images into RGB (0: unchanged; 3 when pretrained weights meet grey "
                               "data)", at_least=0)
    # Per-channel ((mean, ...), (std, ...)) from the API, or one of the CLI's choices.
    normalize: Any = setting("auto", "auto: the card's mean/std with --pretrained, else none",
                             choices=("auto", "card", "none"))
    crop_padding: int = setting(0, "random crop after zero-padding by this many pixels", at_least=0)
    flip: bool = setting(False, "random horizontal flips")
    color_jitter: float = setting(0.0, "brightness/contrast/saturation factors in [1-J, 1+J]", at_least=0, below=1)


@dataclasses.dataclass(frozen=True)
class TextConfig(_Checked):
    """text (data sets of token sequences; 0 and '' keep the data set's default)"""

    text_column: str = setting("", "csv: data sets: column holding the text")
    label_column: str = setting("", "csv: data sets: column holding the label")
    tokenizer: str = setting("", "word, char, a pretrained model's WordPiece: minilm or a tokenizer.json path "
                                 "(text classification), or a pretrained byte-level BPE: smollm2 or a .gguf path "
                                 "(language models)")
    vocab_size: int = setting(0, "keep the N most frequent tokens (the rest become <unk>, or are dropped from "
                                 "word-embedding corpora)", at_least=0)
    min_freq: int = setting(0, "tokens seen fewer times in train become <unk> (word embeddings: are dropped)",
                            at_least=0)
    max_length: int = setting(0, "truncate texts to N tokens", at_least=0)
    seq_len: int = setting(0, "language models: tokens per training window", at_least=0)
    embeddings: str = setting("", "initialise the embedding table from word vectors: glove-6b-50d (or glove) or a "
                                  ".npz file from zoo-embed", metavar="VECTORS")
    freeze_embeddings: bool = setting(False, "keep the embedding table fixed")

    def options(self):
        """The data set's text settings: train.data.text.TextOptions of the fields that are set."""
        from train.data.text import TextOptions

        given = {name: getattr(self, name) for name in
                 ("text_column", "label_column", "tokenizer", "vocab_size", "min_freq", "max_length", "seq_len")}
        return TextOptions(**{k: v for k, v in given.items() if v})


@dataclasses.dataclass(frozen=True)
class TransferConfig(_Checked):
    """transfer learning (see train.transfer)"""

    pretrained: str = setting("", "start from pretrained weights (a file, or a named source from the card such as "
                                  "imagenet); fresh head", metavar="SOURCE")
    freeze_backbone: bool = setting(False, "train only the classifier head (the card's `head`)")
    backbone_lr_scale: float = setting(1.0, "fine-tuning: backbone learning rate = lr x this", at_least=0)
    lora_rank: int = setting(0, "LoRA: train rank-R adapters on the --lora-targets kernels, every weight frozen "
                                "(0: off; typically 4-64)", at_least=0, flag="--lora", metavar="R")
    lora_alpha: float = setting(16.0, "LoRA: the adapters' update is scaled by alpha / rank", above=0)
    lora_targets: str = setting("attention/query,attention/value",
                                "LoRA: comma-separated module paths of the kernels to adapt (a path matches "
                                "itself and every path ending with it): attention/query, attention/key, "
                                "attention/value, attention/qkv, attention/out, mlp/up, mlp/gate, mlp/down",
                                metavar="PATHS")

    def lora(self):
        """The zoo.layers.lora.LoRAConfig of these settings, or None when LoRA is off."""
        if not self.lora_rank:
            return None
        from zoo.layers.lora import LoRAConfig

        return LoRAConfig(rank=self.lora_rank, alpha=self.lora_alpha,
                          targets=tuple(t.strip() for t in self.lora_targets.split(",") if t.strip()))


@dataclasses.dataclass(frozen=True)
class TaskConfig(_Checked):
    """the task's objective (each task reads the settings it uses)"""

    loss: str = setting("", "override the card's loss: softmax_cross_entropy, sigmoid_cross_entropy, hinge, "
                            "perceptron, mse")
    l2: float = setting(0.0, "L2 penalty on weight matrices, added to the loss (the SVM's regulariser)", at_least=0)
    aux_loss_weight: float | None = setting(None, "weight of auxiliary-head losses (default: the card's, e.g. "
                                                  "GoogLeNet 0.3)", type=float)
    # Word embeddings (train.tasks.word2vec, train.tasks.glove).
    window: int = setting(5, "word embeddings: largest distance from a word to its context", at_least=1)
    negatives: int = setting(5, "word2vec: negative samples per positive", at_least=1)
    subsample: float = setting(1e-3, "word2vec: frequent-word subsampling threshold (0: keep every word)", at_least=0)
    x_max: float = setting(100.0, "GloVe: count at which a co-occurrence gets full weight", above=0)
    alpha: float = setting(0.75, "GloVe: exponent of the weighting function", at_least=0)


@dataclasses.dataclass(frozen=True)
class RunConfig(_Checked):
    """run"""

    epochs: int = setting(10, "passes over the training data (or epochs of --steps-per-epoch steps)", at_least=1)
    steps_per_epoch: int = setting(0, "end an epoch (validation, checkpoint) every N steps, the data read on where "
                                      "the last epoch stopped, as in Keras (0: one pass over the data)", at_least=0)
    seed: int = setting(0, "random seed: same seed, same data order, same result")
    patience: int = setting(0, "early stopping: epochs without validation-loss improvement (0: off)", at_least=0)
    min_delta: float = setting(0.0, "early stopping: the least decrease that counts as an improvement", at_least=0)
    parallel: str = setting("jit", "jit over a device Mesh, or pmap", choices=("jit", "pmap"))
    mesh: str = setting("", "jit: a DATAxMODEL device mesh, e.g. 4x2: the batch splits over DATA, attention and MLP "
                            "kernels over MODEL (tensor parallel); default: all devices on DATA, state replicated",
                        metavar="DATAxMODEL")
    fsdp: bool = setting(False, "jit: also shard every large parameter and its optimizer state over the mesh's DATA "
                                "axis (fully sharded data parallel)")
    resume: bool = setting(False, "continue the run in --workdir from its last checkpoint")
    checkpoint_every: int = setting(0, "also checkpoint every N steps within an epoch", at_least=0)
    # Raise it when epochs are a step or two long (full-graph node tasks), where saving would cost more than
    # training.
    checkpoint_epochs: int = setting(1, "save at the end of every N-th epoch (and of the last)", at_least=1)
    keep_checkpoints: int = setting(3, "checkpoints kept in the workdir", at_least=1)
    allow_changed: str = setting("", "with --resume: settings that may differ from the run's (e.g. lr,epochs; "
                                     "'all' for any); others must match", metavar="NAMES")
    divergence: float = setting(100.0, "stop when the training loss exceeds its first logged value L0 by D x "
                                       "max(|L0|, 1) (0: off)", metavar="D", at_least=0)
    log_every: int = setting(50, "steps between host syncs (progress bar, NaN and divergence checks)",
                             at_least=1)
    progress: bool = setting(True, "progress bars")
    plots: bool = setting(True, "learning curves and confusion matrix as PNG")


SECTIONS = {"data": DataConfig, "optim": OptimConfig, "image": ImageConfig, "text": TextConfig,
            "transfer": TransferConfig, "task": TaskConfig, "run": RunConfig}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    model: str
    model_overrides: tuple[tuple[str, Any], ...] = ()  # extra zoo.create() fields, e.g. (("hidden", (256,)),)
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    image: ImageConfig = ImageConfig()
    text: TextConfig = TextConfig()
    transfer: TransferConfig = TransferConfig()
    task: TaskConfig = TaskConfig()
    run: RunConfig = RunConfig()

    def flat(self) -> dict[str, Any]:
        """{flat name: value} of every setting (the names `config_for` and the CLI use)."""
        return {name: getattr(getattr(self, section), field) for name, (section, field) in FLAT_NAMES.items()}


def _flat_names() -> dict[str, tuple[str, str]]:
    """flat name -> (section, field). OptimConfig.name is `optimizer`; every other name is the field's own."""
    names = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            flat = "optimizer" if (section, f.name) == ("optim", "name") else f.name
            if flat in names:
                raise AssertionError(f"setting {flat!r} is defined twice ({names[flat][0]} and {section})")
            names[flat] = (section, f.name)
    return names


FLAT_NAMES = _flat_names()


def section_fields() -> Iterator[tuple[str, type, dataclasses.Field, str]]:
    """(section, its class, field, flat name) for every setting, in definition order: what the CLI is built from."""
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            yield section, cls, f, "optimizer" if (section, f.name) == ("optim", "name") else f.name


def _hashable(name: str, value: Any) -> Any:
    if name == "model_overrides" and isinstance(value, dict):
        return tuple(sorted(value.items()))
    if name == "normalize" and isinstance(value, (list, tuple)):  # ((mean, ...), (std, ...))
        return tuple(tuple(float(v) for v in part) for part in value)
    return value


def config_for(model: str, **settings: Any) -> TrainConfig:
    """The card's recipe for `model`, with `settings` (None = keep the recipe) on top, by flat name."""
    merged = {**model_card(model).recipe, **{k: v for k, v in settings.items() if v is not None}}
    unknown = sorted(set(merged) - set(FLAT_NAMES) - {"model_overrides"})
    if unknown:
        raise UnknownFieldError(f"unknown training setting(s) {', '.join(unknown)}; known: "
                                f"{', '.join(sorted(FLAT_NAMES))}")
    sections: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for name, value in merged.items():
        if name != "model_overrides":
            section, field = FLAT_NAMES[name]
            sections[section][field] = _hashable(name, value)
    return TrainConfig(model=model, model_overrides=_hashable("model_overrides", merged.get("model_overrides", ())),
                       **{section: SECTIONS[section](**values) for section, values in sections.items()})
