"""Shared by the tests: subprocess runs, parameter comparisons, fast compiles."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def python_env(**extra) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "ZOO_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)  # emulated device counts come only from `extra`
    return {**env, **extra}


def run_module(args: list[str], timeout: float, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=python_env(**env), capture_output=True,
                          text=True, timeout=timeout)


def load_npz(path) -> dict:
    with np.load(path) as f:
        return dict(f)


def max_abs_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


# XLA's lowest optimisation level: 2-3x faster compiles of big programs (GoogLeNet's step: 60 s -> 20 s on 2 cores)
# that compute the same values. For tests that need a program's values, not its speed.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def compile_fast(fn, *args):
    """`jax.jit(fn)` compiled for `args` at FAST_COMPILE: call it with arguments shaped like `args`."""
    import jax

    return jax.jit(fn).lower(*args).compile(FAST_COMPILE)


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder that `make(folder)` fills once per test run, however many xdist workers ask for it.

    A module fixture runs once per worker that runs one of its tests, and the load scheduler spreads a module's
    tests over the workers; so an expensive fixture (a training run) writes its result here, under a lock, for
    the other workers to read (pytest-xdist's recipe for running a fixture once). Without xdist the folder
    lives in this run's own temporary directory."""
    from filelock import FileLock

    shared = "PYTEST_XDIST_WORKER" in os.environ
    root = tmp_path_factory.getbasetemp().parent if shared else tmp_path_factory.getbasetemp()
    folder = root / f"made-once-{name}"
    with FileLock(f"{folder}.lock"):
        if not (folder / ".complete").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            make(folder)
            (folder / ".complete").touch()
    return folder


def kill_once_checkpointed(cmd: list[str], checkpoints: Path, after_step: int, timeout: float = 240,
                           delay: float = 0.0) -> None:
    """Start `cmd` and kill -9 it `delay` seconds after it has saved a checkpoint at `after_step` or later:
    mid-training, at an arbitrary point, possibly mid-save. Fails if it finishes first."""
    victim = subprocess.Popen(cmd, cwd=ROOT, env=python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and victim.poll() is None:
            steps = [int(p.name) for p in checkpoints.glob("[0-9]*") if p.name.isdigit()]
            if steps and max(steps) >= after_step:
                break
            time.sleep(0.02)
        time.sleep(delay)
        assert victim.poll() is None, "the run finished before it could be killed; make it longer"
        victim.send_signal(signal.SIGKILL)
    finally:
        victim.kill()
        victim.wait(timeout=30)


def saved_networks(workdir: Path) -> tuple[dict, dict]:
    """(every network's saved state, the run record) of the workdir's latest checkpoint."""
    from train.checkpoint import Checkpointer

    checkpointer = Checkpointer(Path(workdir) / "checkpoints")
    try:
        state, record = checkpointer.restore_raw()
    finally:
        checkpointer.close()
    return state["networks"], record


HAMLET = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
          "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n") * 12


def train_tiny_language_model(root: Path, model: str, overrides: dict):
    """A character language model trained for one short epoch on HAMLET through the real loop, in root/run:
    what zoo-generate reads. Returns the run's result."""
    from conftest import quick
    from train import train_and_evaluate

    corpus = root / "corpus.txt"
    corpus.write_text(HAMLET)
    config = quick(model, dataset=f"text:{corpus}", epochs=1, batch_size=8, seq_len=16, min_freq=1,
                   model_overrides=overrides, lr=1e-2)
    return train_and_evaluate(config, root / "run")
