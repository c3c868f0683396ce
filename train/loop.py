"""`train_and_evaluate(config, workdir)`: the one training loop behind the CLIs, notebooks and tests.

It knows iteration, placement, checkpointing, logging, the stops (NaN, divergence, Ctrl-C; train.stops) and
early stopping. Everything about the kind of learning (the model's fields, the state, the step bodies, the
metrics, the headline) belongs to the task the model card names (train.tasks).

A run checks everything it can before it writes to its workdir (train.workdir): the data loads, the task
builds, the workdir is usable and holds no other run, and a resumed run's settings and checkpoint are sound.
"""
from __future__ import annotations

import dataclasses
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

import zoo
from train import report
from train.checkpoint import Checkpointer
from train.config import TrainConfig
from train.data import eval_batches, load_for_run
from train.data.batching import stream_batches
from train.parallel import check_divisible, make_parallel
from train.state import TrainState
from train.stops import StopRequest, TrainingInterrupted, check_step_metrics
from train.tasks import task_for
from train.workdir import (allowed_changes, check_epochs, check_same_run_files, check_same_settings, check_usable,
                           saved_config)
from zoo.errors import ZooError


@dataclasses.dataclass
class TrainResult:
    summary: dict[str, Any]
    state: TrainState  # final state, on host; state.variables is what model.apply takes (single-network tasks)
    model: Any  # the flax module (or modules), for model.apply(state.variables, x)


def _fresh_record() -> dict[str, Any]:
    return {"step": 0, "epoch": 0, "epoch_examples": 0, "history": [], "best_val_loss": None, "bad_epochs": 0,
            "epoch_sums": {}, "first_losses": {}, "stop_reason": None}


class _Run:
    """One run's moving parts; `train_and_evaluate` is its only caller."""

    def __init__(self, config: TrainConfig, workdir: Path, devices):
        self.config, self.workdir = config, workdir
        self.main = jax.process_index() == 0
        card = zoo.model_card(config.model)
        self.parallel = make_parallel(config.run.parallel, devices, mesh=config.run.mesh, fsdp=config.run.fsdp)
        check_divisible(config.data.batch_size, self.parallel.batch_shards, across=self.parallel.batch_unit)
        self.task = task_for(card.task)(config, card, load_for_run(config), self.parallel)
        self.dataset = self.task.dataset
        self.eval_batch_size = config.data.eval_batch_size or default_eval_batch(
            config.data.batch_size, self.task.eval_examples_limit())
        check_divisible(self.eval_batch_size, self.parallel.batch_shards, "eval batch size",
                        across=self.parallel.batch_unit)
        self.template = self.task.init_state()
        self.train_step = self.parallel.compile_train(self.task.train_step)
        self.eval_step = None  # compiled on first use: tasks without held-out batches have no eval step

    def restore_or_start(self) -> tuple[Any, dict, Checkpointer | None]:
        """The state and record to start from, checked before anything is written: a fresh start, or the
        newest checkpoint of the run being resumed (same settings, intact files, fitting arrays)."""
        directory = self.workdir / "checkpoints"
        if not directory.is_dir() or not any(p.name.isdigit() for p in directory.iterdir()):
            if self.config.run.resume and self.main:
                print(f"note: --resume found no checkpoint in {self.workdir}; starting fresh", file=sys.stderr)
            return self.template, _fresh_record(), None
        checkpointer = Checkpointer(directory, keep=self.config.run.keep_checkpoints)
        try:
            latest = checkpointer.latest_step()
            if not self.config.run.resume:
                raise ZooError(f"{self.workdir} already holds checkpoints (latest at step {latest}); pass "
                               "--resume to continue that run, or choose a new --workdir")
            record = checkpointer.record(latest)
            saved = saved_config(self.workdir, record)
            if saved is not None:
                check_same_settings(saved, self.config)
            check_same_run_files(self.workdir, self.task.run_files())
            state, record = checkpointer.restore(self.template, latest, record)  # verified by record() above
        except BaseException:
            checkpointer.close()
            raise
        record = _upgrade(record, self.task.steps_per_epoch, saved)
        check_epochs(record["epoch"], self.config)
        return state, record, checkpointer

    def evaluate(self, state, split: str) -> dict[str, Any]:
        """The task's metrics over every real example of `split`."""
        if self.eval_step is None:
            self.eval_step = self.parallel.compile_eval(self.task.eval_step)
        kept = []
        for batch in eval_batches(self.dataset.split(split), self.eval_batch_size, self.task.shards):
            result = self.parallel.gather(self.eval_step(state, self.parallel.put_batch(batch)))
            real = batch["mask"] > 0
            kept.append({**{k: v[real] for k, v in result.items()}, "targets": batch["y"][real]})
        return self.task.metrics({k: np.concatenate([r[k] for r in kept]) for k in kept[0]})


def default_eval_batch(batch_size: int, limit: int | None) -> int:
    """A multiple of the training batch near 1024 examples, or the largest under the task's `limit` (outputs too
    large to hold 1024 of at once); never below the training batch."""
    target = 1024 if limit is None else min(1024, limit)
    return batch_size * max(1, target // batch_size)


def _upgrade(record: dict, steps_per_epoch: int, saved: dict | None) -> dict:
    """Records written before the run kept its epoch position ("epoch", "epoch_examples") derive it from the
    step counter and the batch size they ran with."""
    if "epoch" not in record:
        batch_size = (saved or {}).get("data", {}).get("batch_size", 0)
        record = {**record, "epoch": record["step"] // steps_per_epoch,
                  "epoch_examples": record["step"] % steps_per_epoch * batch_size}
    return {"first_losses": {}, **record}


def _add_sums(sums: dict[str, float], metrics: list[dict], first_step: int, record: dict, settings,
              last_saved: int | None) -> None:
    for offset, m in enumerate(metrics):
        values = {k: float(v) for k, v in m.items()}
        check_step_metrics(values, first_step + offset, record["first_losses"], settings.divergence, last_saved)
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v
        sums["batches"] = sums.get("batches", 0) + 1


def train_and_evaluate(config: TrainConfig, workdir: str | Path, *, devices=None) -> TrainResult:
    """Train `config.model`, evaluate on the test split, write the workdir's reports.

    Resumable: with `config.run.resume`, continues the exact trajectory of the last checkpoint in `workdir`
    (every network's params and optimizer, rng, data position, history).
    """
    workdir = Path(workdir)
    check_usable(workdir)
    allowed_changes(config.run.allow_changed)  # a misspelt name fails now, not at the resume that needs it
    run = _Run(config, workdir, devices)
    task, parallel, settings, batch_size = run.task, run.parallel, config.run, config.data.batch_size
    host_state, record, checkpointer = run.restore_or_start()
    # Every check has passed: only now does the run write to its workdir.
    workdir.mkdir(parents=True, exist_ok=True)
    if run.main:
        report.write_config(workdir, dataclasses.asdict(config))
        for name, content in task.run_files().items():
            report.write_json(workdir / name, content)
    checkpointer = checkpointer or Checkpointer(workdir / "checkpoints", keep=settings.keep_checkpoints)
    state = parallel.put_state(host_state)
    log = report.RunLog(workdir, record["history"], enabled=run.main)
    spe, step = task.steps_per_epoch, int(record["step"])
    started, first_step = time.perf_counter(), step
    config_record = dataclasses.asdict(config)
    last_saved = checkpointer.latest_step()

    def checkpoint(sums, epoch: int, in_epoch: int):
        nonlocal last_saved
        record.update(step=step, epoch=epoch, epoch_examples=in_epoch * batch_size, epoch_sums=dict(sums),
                      config=config_record)
        checkpointer.save(step, parallel.get_state(state), record)
        last_saved = step

    try:
        with StopRequest() as stop:
            for epoch in range(record["epoch"], settings.epochs):
                if record["stop_reason"]:
                    break
                in_epoch = record["epoch_examples"] // batch_size if epoch == record["epoch"] else 0
                sums = dict(record["epoch_sums"]) if in_epoch else {}
                pending: list = []
                bar = tqdm(total=spe, initial=in_epoch, desc=f"epoch {epoch + 1}/{settings.epochs}", leave=False,
                           disable=not (settings.progress and run.main))
                batches = stream_batches(run.dataset.splits["train"], batch_size, settings.seed, step, task.shards)
                for batch in itertools.islice(batches, spe - in_epoch):
                    state, metrics = run.train_step(state, parallel.put_batch(batch))
                    step += 1
                    in_epoch += 1
                    pending.append(metrics)
                    bar.update()
                    end_of_epoch = in_epoch == spe
                    stopping = stop.requested and not end_of_epoch  # read once: Ctrl-C may land at any moment
                    save_now = (bool(settings.checkpoint_every) and step % settings.checkpoint_every == 0
                                and not end_of_epoch) or stopping
                    # Sync with the device only every log_every steps, and always before a save so the
                    # checkpoint's running sums include every step it has taken, all of them checked.
                    if len(pending) >= settings.log_every or end_of_epoch or save_now:
                        fetched = [{k: parallel.scalar(v) for k, v in m.items()} for m in pending]
                        _add_sums(sums, fetched, step - len(pending) + 1, record, settings, last_saved)
                        pending = []
                        bar.set_postfix(loss=f"{sums['loss'] / sums['batches']:.4f}")
                    if save_now:
                        checkpoint(sums, epoch, in_epoch)
                    if stopping:
                        raise _interrupted(step, workdir)
                bar.close()

                epoch_record = {"epoch": epoch + 1, "step": step}
                epoch_record.update({f"train_{k}": v / sums["batches"] for k, v in sums.items() if k != "batches"})
                if "validation" in run.dataset.splits:
                    val = run.evaluate(state, "validation")
                    epoch_record.update({f"val_{k}": v for k, v in val.items() if isinstance(v, float)})
                    _early_stopping(record, val["loss"], settings, epoch + 1)
                record["history"].append(epoch_record)
                log.log_epoch(epoch_record)
                stopping = stop.requested and epoch + 1 < settings.epochs
                if ((epoch + 1) % settings.checkpoint_epochs == 0 or epoch + 1 == settings.epochs
                        or record["stop_reason"] or stopping):
                    checkpoint({}, epoch + 1, 0)
                if stopping:
                    raise _interrupted(step, workdir)
    finally:
        log.close()
        checkpointer.close()

    elapsed = time.perf_counter() - started
    test = run.evaluate(state, "test") if "test" in run.dataset.splits else {}
    final_state = parallel.get_state(state)  # on the host, once: after-training evaluation and the caller read it
    test.update(task.after_training(final_state))
    summary = {
        "model": config.model,
        "dataset": run.dataset.name,
        "epochs": len(record["history"]),
        "steps": step,
        "test_loss": test.get("loss"),
        "test_accuracy": test.get("accuracy"),
        **{f"test_{k}": v for k, v in test.items() if k not in ("loss", "accuracy")},
        "stop_reason": record["stop_reason"] or "completed",
        "history": record["history"],
        "parallel": settings.parallel,
        "devices": parallel.num_devices,
        "processes": jax.process_count(),
        "steps_per_sec_this_session": (step - first_step) / elapsed if step > first_step else None,
        "data": run.dataset.summary(),
        **task.summary_extras(),
        "config": dataclasses.asdict(config),
    }
    if run.main:
        report.write_summary(workdir, summary)
        if settings.plots:
            report.plot_curves(record["history"], workdir / "learning_curves.png")
        task.write_reports(workdir, test)
        task.write_outputs(workdir, final_state)
    return TrainResult(summary=summary, state=task.result_state(final_state), model=task.result_model())


def _interrupted(step: int, workdir: Path) -> TrainingInterrupted:
    return TrainingInterrupted(f"interrupted: stopped after step {step} and saved a checkpoint in {workdir}; run "
                               "the same command with --resume to continue", step)


def _early_stopping(record: dict, val_loss: float, settings, epoch: int) -> None:
    best = record["best_val_loss"]
    if best is None or val_loss < best - settings.min_delta:
        record["best_val_loss"], record["bad_epochs"] = val_loss, 0
        return
    record["bad_epochs"] += 1
    if settings.patience and record["bad_epochs"] >= settings.patience:
        record["stop_reason"] = (f"early stopping after epoch {epoch}: validation loss did not improve on "
                                 f"{best:.4f} for {settings.patience} epochs")
