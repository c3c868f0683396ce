"""Orbax CheckpointManager wrapper: periodic saves, keep-N, exact resume, clear failures.

Each checkpoint holds the TrainState (params, optimizer, model state, rng,
step) and a JSON record of everything else a resumed run needs: epoch, data
position, early-stopping counters, the metric history, and a *signature*
(path -> shape, dtype of every state leaf) that is checked before any array
is read, so a checkpoint from another model fails with a list of the
mismatched keys instead of a deep Orbax error. Orbax writes into a temporary
directory and renames it on success, so a run killed mid-save never damages
the last good checkpoint.

Orbax checks neither the arrays' bytes nor the record's, so after each save
commits, a manifest of every file's size and SHA-256 is written into the step's
folder (train.manifest); a restore refuses a step whose files no longer match,
naming the newest step that does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import contextlib
import errno
import logging
import shutil
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp

from train import manifest
from zoo.errors import ZooError


class CheckpointError(ZooError):
    """A checkpoint that does not fit the model or cannot be read."""


def signature(state) -> dict[str, list]:
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    return {jax.tree_util.keystr(path): [list(np.shape(x)), str(np.asarray(x).dtype)] for path, x in leaves}


def describe_mismatch(saved: dict[str, list], current: dict[str, list], limit: int = 12) -> str:
    lines = [f"  missing from checkpoint: {k} {current[k][0]}" for k in current if k not in saved]
    lines += [f"  unexpected in checkpoint: {k} {saved[k][0]}" for k in saved if k not in current]
    lines += [f"  {k}: checkpoint has {saved[k][0]} {saved[k][1]}, model needs {current[k][0]} {current[k][1]}"
              for k in current if k in saved and saved[k] != current[k]]
    more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more


def _check_free_space(directory: Path, state) -> None:
    """Refuse a save the disk cannot hold before writing a byte: a write that fails half way through is
    cleaned up too, but TensorStore's other writes then report into a closed event loop on stderr."""
    needed = sum(np.asarray(x).nbytes for x in jax.tree.leaves(state)) * 1.1 + (64 << 10)  # + metadata
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise OSError(errno.ENOSPC, f"No space left on device: the checkpoint needs about {needed / 2**20:.1f} MiB, "
                                    f"{free / 2**20:.1f} MiB are free")


def _cause(err: Exception) -> str:
    """The part of a storage error a user acts on: TensorStore's messages bury the OS error deep inside."""
    text = str(err)
    if isinstance(err, OSError) and err.errno == errno.ENOSPC and err.strerror:
        return err.strerror[0].lower() + err.strerror[1:]
    for cause in ("No space left on device", "Disk quota exceeded", "Read-only file system", "Permission denied"):
        if cause in text:
            return cause.lower()
    return f"{type(err).__name__}: {text[:300]}"


@contextlib.contextmanager
def _orbax_logs_quiet():
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _hide_closed_loop_callbacks() -> None:
    """After a failed write, TensorStore's remaining writes finish on its own threads and call back into the
    asyncio loop Orbax has already closed; each callback prints a 'RuntimeError: Event loop is closed'
    traceback through sys.excepthook. Those say nothing beyond the error already reported, so they are
    dropped; every other exception reaches the previous hook."""
    previous = sys.excepthook
    if getattr(previous, "hides_closed_loop_callbacks", False):
        return

    def hook(kind, value, traceback):
        if kind is RuntimeError and str(value) == "Event loop is closed":
            return
        previous(kind, value, traceback)

    hook.hides_closed_loop_callbacks = True
    sys.excepthook = hook


class Checkpointer:
    def __init__(self, directory: str | Path, keep: int = 3):
        _hide_closed_loop_callbacks()  # before any write: the callbacks can come while a failed save unwinds
        self.directory = Path(directory).absolute()
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False),
        )

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state, record: dict[str, Any]) -> None:
        """`state` on host (numpy leaves); `record` JSON-serialisable. A save that fails (a full disk, a
        vanished folder) leaves the earlier checkpoints as they were and raises CheckpointError."""
        record = {**record, "signature": signature(state)}
        try:
            _check_free_space(self.directory, state)
            with _orbax_logs_quiet():  # its writer threads log tracebacks of what is reported below
                self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                                 record=ocp.args.JsonSave(record)))
                self.manager.wait_until_finished()
            if jax.process_index() == 0:
                manifest.write(self.directory / str(step))
        except Exception as err:
            for partial in self.directory.glob(f"{step}.orbax-checkpoint-tmp*"):
                shutil.rmtree(partial, ignore_errors=True)
            if (self.directory / str(step)).is_dir() and not manifest.exists(self.directory / str(step)):
                shutil.rmtree(self.directory / str(step), ignore_errors=True)  # committed, but never verified
            intact = [s for s in self.steps() if s != step]
            kept = (f"the checkpoints at step {', '.join(map(str, intact))} are intact" if intact
                    else "no earlier checkpoint exists")
            raise CheckpointError(
                f"could not save checkpoint step {step} in {self.directory} ({_cause(err)}); {kept}. Free space "
                "on that disk (or fix its permissions) and run again with --resume.") from err

    def verify(self, step: int) -> None:
        """Raise CheckpointError when `step`'s files differ from the manifest written when it was saved."""
        problem = manifest.check(self.directory / str(step))
        if problem is None:
            return
        if problem == manifest.MISSING:
            print(f"note: checkpoint step {step} in {self.directory} has no checksum manifest (an older zoo wrote "
                  "it, or the run was killed between its save and its manifest); restoring it unverified",
                  file=sys.stderr)
            return
        raise self._unreadable(step, problem)

    def record(self, step: int | None = None) -> dict[str, Any]:
        """The JSON record saved with `step` (default: latest), after checking the step's checksums."""
        step = self.latest_step() if step is None else step
        self.verify(step)
        try:
            return self.manager.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore()))["record"]
        except Exception as err:
            raise self._unreadable(step, f"{type(err).__name__}: {str(err)[:300]}") from err

    def restore(self, template_state, step: int | None = None,
                record: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Restore `step` (default: latest) into arrays shaped like `template_state`. `record`: the step's
        record as `record(step)` returned it, when the caller has read it already (its files are then verified)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        record = self.record(step) if record is None else record
        expected = signature(template_state)
        if record.get("signature") != expected:
            raise CheckpointError(
                f"checkpoint step {step} in {self.directory} does not match this model:\n"
                f"{describe_mismatch(record.get('signature', {}), expected)}\n"
                "It was written for another model, data shape or optimizer. Resume with the same MODEL, --data "
                "and --optimizer as the run that wrote it, or start fresh in a new --workdir."
            )
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(template_state)))["state"]
        except Exception as err:
            raise self._unreadable(step, f"{type(err).__name__}: {str(err)[:300]}") from err
        return jax.tree.map(np.asarray, restored), record

    def restore_raw(self, step: int | None = None) -> tuple[dict, dict[str, Any]]:
        """The saved state as nested dicts of arrays, without a model at hand (inspection, export)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        self.verify(step)
        try:
            out = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                                                     record=ocp.args.JsonRestore()))
        except Exception as err:
            raise self._unreadable(step, f"{type(err).__name__}: {str(err)[:300]}") from err
        return jax.tree.map(np.asarray, out["state"]), out["record"]

    def restore_params(self, network: str = "model", step: int | None = None) -> dict:
        """One network's params (default: the single-network tasks' 'model'), read without a template."""
        state, _ = self.restore_raw(step)
        networks = state.get("networks", {})
        if network not in networks:
            raise CheckpointError(f"the checkpoint in {self.directory} holds networks {', '.join(networks) or 'none'}, "
                                  f"not {network!r}")
        return networks[network].get("params", {})

    def _unreadable(self, step: int, reason: str) -> CheckpointError:
        others = [s for s in self.steps() if s < step and manifest.intact(self.directory / str(s))]
        fallback = (f"The newest intact checkpoint is step {others[-1]}: move {self.directory / str(step)} (and any "
                    f"later steps) aside to resume from it, or "
                    if others else "There is no earlier intact checkpoint: ")
        return CheckpointError(
            f"checkpoint step {step} in {self.directory} is corrupted or incomplete "
            f"({reason}).\n{fallback}start fresh in a new --workdir."
        )

    def close(self) -> None:
        self.manager.close()
