"""Shared by the tests that run training in subprocesses."""
import os
import subprocess
import sys
from pathlib import Path

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
