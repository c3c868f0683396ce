"""What a task is: everything about one kind of learning that the training loop does not know.

The loop (train.loop) iterates over batches, places them and the state on the devices, checkpoints, logs,
stops on NaN and early-stops. A `Task` supplies the rest:

* the training data it derives from the data set (`prepare_data`) and the model fields it fills from it
  (the card's `data_fields`, `build_model`);
* its state: one or several named networks, each with its own optimizer (`init_state`);
* one train-step body and one eval-step body `(state, batch, axis_name=None)`, which train.parallel compiles
  under jit over a Mesh, pmap, or several processes;
* what its eval outputs mean (`metrics`), any evaluation after training (`after_training`), what it leaves in
  the workdir (`run_files`, `write_reports`) and the line the CLI prints (`headline`).

A new kind of learning is one subclass in one file, registered with `@register_task("name")`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import flax.linen as nn
import numpy as np

import zoo
from train.config import TrainConfig
from train.data.batching import steps_per_epoch
from train.data.sources import Dataset
from train.state import TrainState
from zoo.errors import ZooError
from zoo.registry import ModelCard


class Task:
    """Base class: a subclass sets `name`-registered behaviour; see the module docstring."""

    data_kinds: ClassVar[tuple[str, ...]]  # the Dataset.task values it trains on
    shards_batches: ClassVar[bool] = False  # batches stacked as one shard per device (graphs)

    def __init__(self, config: TrainConfig, card: ModelCard, dataset: Dataset, parallel):
        self.config, self.card, self.parallel = config, card, parallel
        check_data_kind(card, dataset, self.data_kinds)
        self.dataset = self.prepare_data(dataset)
        one_pass = steps_per_epoch(len(self.dataset.splits["train"]), config.data.batch_size)  # refuses a batch
        self.steps_per_epoch = config.run.steps_per_epoch or one_pass  # larger than the data, with either setting

    # --- what the loop reads ---------------------------------------------------------------------------------
    @property
    def shards(self) -> int:
        """Batches are built as this many stacked shards (one per data-parallel device for graphs), or flat (1)."""
        return self.parallel.batch_shards if self.shards_batches else 1

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.run.epochs

    def eval_examples_limit(self) -> int | None:
        """The most examples one default evaluation batch should hold (None: no limit beyond ~1024)."""
        return None

    def prepare_data(self, dataset: Dataset) -> Dataset:
        """The data set the task trains on (a corpus becomes windows or co-occurrences, say)."""
        return dataset

    def init_state(self) -> TrainState:
        """The run's state at step 0, on the host."""
        raise NotImplementedError

    def train_step(self, state: TrainState, batch: dict, axis_name: str | None = None) -> tuple[TrainState, dict]:
        raise NotImplementedError

    def eval_step(self, state: TrainState, batch: dict, axis_name: str | None = None) -> dict:
        """Per-example arrays for `metrics`; tasks without held-out batches need not define it."""
        raise NotImplementedError

    def metrics(self, results: dict[str, np.ndarray]) -> dict[str, Any]:
        """Eval outputs of every real example of a split (padding removed, 'targets' added) -> its metrics."""
        raise NotImplementedError

    def after_training(self, state: TrainState) -> dict[str, Any]:
        """Test metrics that need the trained state itself (decoding, word-vector evaluation)."""
        return {}

    def result_model(self) -> Any:
        """What TrainResult.model holds: the flax module (or modules) a user applies to the trained variables."""
        raise NotImplementedError

    def summary_extras(self) -> dict[str, Any]:
        """Run facts for the summary that are not test metrics (e.g. how much of a vocabulary had vectors)."""
        return {}

    def run_files(self) -> dict[str, Any]:
        """{file name: JSON content} the loop writes to the workdir when a run starts and a resumed run must
        agree with: what reading its checkpoints needs (a text set's codec)."""
        return {} if self.dataset.codec is None else {"codec.json": self.dataset.codec.to_json()}

    def write_reports(self, workdir: Path, test: dict[str, Any]) -> None:
        """Plots beside the learning curves (e.g. a confusion matrix)."""

    def write_outputs(self, workdir: Path, state: TrainState) -> None:
        """Files of the trained state a user takes away beside the checkpoints (LoRA adapters on their own)."""

    def result_state(self, state: TrainState) -> TrainState:
        """What TrainResult.state holds: the final state, in the form the result model applies."""
        return state

    @classmethod
    def headline(cls, summary: dict[str, Any]) -> str:
        """The test figures the CLI prints, e.g. 'test accuracy 0.9812'."""
        return f"test loss {summary['test_loss']:.4f}"


# --- building models from their cards --------------------------------------------------------------------------

def check_data_kind(card: ModelCard, dataset: Dataset, kinds: tuple[str, ...]) -> None:
    if dataset.task in kinds:
        return
    others = zoo.list_models(task=_task_training(dataset.task))
    alternative = f" or a {dataset.task} model ({', '.join(others)})" if others else ""
    raise ZooError(f"{card.name} is a {card.task} model but {dataset.name} is a {dataset.task} data set; pick a "
                   f"{' or '.join(kinds)} data set (e.g. --data {card.default_dataset}){alternative}")


def _task_training(data_kind: str) -> str:
    return {"corpus": "word2vec"}.get(data_kind, data_kind)


def data_fields(card: ModelCard, dataset: Dataset) -> dict[str, Any]:
    """The model fields the card says come from the data set, with the data set's values."""
    have = dataset.properties()
    missing = [prop for prop in card.data_fields.values() if have.get(prop) is None]
    if missing:
        raise ZooError(f"{card.name} needs the data set's {', '.join(missing)}, which {dataset.name} does not have; "
                       f"pick a data set it can read, e.g. --data {card.default_dataset}")
    return {field: have[prop] for field, prop in card.data_fields.items()}


def build_model(card: ModelCard, dataset: Dataset, config: TrainConfig, **task_fields: Any) -> nn.Module:
    """The card's module with the fields the data set fills, the task's own, then the user's overrides."""
    return zoo.create(card.name, **{**data_fields(card, dataset), **task_fields, **dict(config.model_overrides)})


def training_copy(model: nn.Module, parallel) -> nn.Module:
    """The module the step runs: `model` with what the parallel strategy needs (BatchNorm's axis under pmap).
    The user keeps `model` itself, usable outside any pmap."""
    overrides = parallel.model_overrides(model)
    return model.clone(**overrides) if overrides else model


def model_has_field(model_or_card: Any, field: str) -> bool:
    builder = model_or_card.builder if isinstance(model_or_card, ModelCard) else type(model_or_card)
    return field in {f.name for f in dataclasses.fields(builder)}
