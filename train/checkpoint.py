"""Orbax CheckpointManager wrapper: periodic saves, keep-N, exact resume, clear failures.

Each checkpoint holds the TrainState (params, optimizer, model state, rng,
step) and a JSON record of everything else a resumed run needs: epoch, data
position, early-stopping counters, the metric history, and a *signature*
(path -> shape, dtype of every state leaf) that is checked before any array
is read, so a checkpoint from another model fails with a list of the
mismatched keys instead of a deep Orbax error. Orbax writes into a temporary
directory and renames it on success, so a run killed mid-save never damages
the last good checkpoint.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

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


class Checkpointer:
    def __init__(self, directory: str | Path, keep: int = 3):
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
        """`state` on host (numpy leaves); `record` JSON-serialisable."""
        record = {**record, "signature": signature(state)}
        self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                         record=ocp.args.JsonSave(record)))
        self.manager.wait_until_finished()

    def restore(self, template_state, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """Restore `step` (default: latest) into arrays shaped like `template_state`."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        try:
            record = self.manager.restore(step, args=ocp.args.Composite(record=ocp.args.JsonRestore()))["record"]
        except Exception as err:
            raise self._unreadable(step, err) from err
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
            raise self._unreadable(step, err) from err
        return jax.tree.map(np.asarray, restored), record

    def restore_raw(self, step: int | None = None) -> tuple[dict, dict[str, Any]]:
        """The saved state as nested dicts of arrays, without a model at hand (inspection, export)."""
        step = self.latest_step() if step is None else step
        try:
            out = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                                                     record=ocp.args.JsonRestore()))
        except Exception as err:
            raise self._unreadable(step, err) from err
        return jax.tree.map(np.asarray, out["state"]), out["record"]

    def restore_params(self, network: str = "model", step: int | None = None) -> dict:
        """One network's params (default: the single-network tasks' 'model'), read without a template."""
        state, _ = self.restore_raw(step)
        networks = state.get("networks", {})
        if network not in networks:
            raise CheckpointError(f"the checkpoint in {self.directory} holds networks {', '.join(networks) or 'none'}, "
                                  f"not {network!r}")
        return networks[network].get("params", {})

    def _unreadable(self, step: int, err: Exception) -> CheckpointError:
        others = [s for s in self.steps() if s != step]
        fallback = (f"The earlier checkpoint(s) at step {', '.join(map(str, others))} are untouched: move "
                    f"{self.directory / str(step)} aside to resume from step {others[-1]}, or "
                    if others else "There is no earlier checkpoint: ")
        return CheckpointError(
            f"checkpoint step {step} in {self.directory} is corrupted or incomplete "
            f"({type(err).__name__}: {str(err)[:300]}).\n{fallback}start fresh in a new --workdir."
        )

    def close(self) -> None:
        self.manager.close()
