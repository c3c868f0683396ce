"""Why a run stops before its last epoch, other than early stopping: a NaN or infinite loss, a loss that has
run away (divergence), or Ctrl-C. Each ends with a message that says which checkpoint is intact and how to go on.

The loop checks the fetched per-step metrics at every host sync, and every checkpoint is preceded by a sync,
so no checkpoint ever holds a state that failed these checks.
"""
from __future__ import annotations

import math
import signal
import sys
import threading

from zoo.errors import ZooError


class NonFiniteLossError(ZooError, FloatingPointError):
    """The training loss became NaN or infinite."""


class DivergedError(ZooError, FloatingPointError):
    """The training loss grew far beyond where it started."""


class TrainingInterrupted(ZooError):
    """Ctrl-C: the run stopped at a step boundary and saved a checkpoint. `exit_code` is the shell's for SIGINT."""

    exit_code = 130

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


def _where_to_go_on(last_saved: int | None, fix: str) -> str:
    if last_saved is None:
        return f"No checkpoint had been saved, so the run starts over: {fix}."
    return (f"The last checkpoint, step {last_saved}, was saved before it and is intact: resume from it with "
            f"--resume --allow-changed lr and {fix}, or start over.")


def check_step_metrics(values: dict[str, float], step: int, first_losses: dict[str, float], divergence: float,
                       last_saved: int | None) -> None:
    """Raise if a step's metrics are not finite, or if a loss exceeds L0 + divergence * max(|L0|, 1), L0 being
    its value at the first step (before any update). `first_losses` is filled on the first call."""
    if not all(math.isfinite(v) for v in values.values()):
        bad = ", ".join(f"{k} {v}" for k, v in values.items() if not math.isfinite(v))
        raise NonFiniteLossError(
            f"training stopped at step {step}: {bad}. "
            + _where_to_go_on(last_saved, "a lower --lr, --clip-norm 1.0, or data without NaN/inf values"))
    for key, value in values.items():
        if "loss" not in key:
            continue
        start = first_losses.setdefault(key, value)
        bound = start + divergence * max(abs(start), 1.0)
        if divergence and value > bound:
            raise DivergedError(
                f"training stopped at step {step}: {key} {value:.4g} has run away from {start:.4g} at the start "
                f"(the bound is {bound:.4g}, --divergence {divergence:g}). "
                + _where_to_go_on(last_saved, "a lower --lr or --clip-norm 1.0 (or --divergence 0 to turn the "
                                              "check off)"))


class StopRequest:
    """Ctrl-C during training: the first asks the loop to stop at the next step boundary (it saves a checkpoint
    and raises TrainingInterrupted); a second raises KeyboardInterrupt at once, which cannot damage a checkpoint
    because Orbax commits a save by renaming a finished folder. Installed only from the main thread, where
    Python delivers signals; elsewhere Ctrl-C keeps its usual meaning."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step to save a checkpoint (Ctrl-C again to quit at once)", file=sys.stderr,
              flush=True)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
