"""Orbax checkpoints: exact resume (also after kill -9), clear errors, nothing good overwritten."""
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import quick
from helpers import ROOT, kill_once_checkpointed, python_env, saved_networks
from train import train_and_evaluate
from train.checkpoint import Checkpointer, CheckpointError
from train.cli import main as train_main
from zoo.errors import ZooError

SMALL = {"dataset": "digits", "batch_size": 32, "model_overrides": {"hidden": (32,)}}


def test_resume_continues_the_exact_trajectory(tmp_path):
    # Stopping after 2 epochs and extending to 4 matches one 4-epoch run only when the
    # schedule does not depend on the epoch count, hence `constant` here.
    run = {**SMALL, "schedule": "constant"}
    full = train_and_evaluate(quick("mlp", epochs=4, **run), tmp_path / "full").state.params
    train_and_evaluate(quick("mlp", epochs=2, **run), tmp_path / "split")
    resumed = train_and_evaluate(quick("mlp", epochs=4, resume=True, **run), tmp_path / "split")
    jax.tree.map(np.testing.assert_array_equal, full, resumed.state.params)
    assert [r["epoch"] for r in resumed.summary["history"]] == [1, 2, 3, 4]


def test_keep_n_checkpoints(tmp_path):
    train_and_evaluate(quick("mlp", epochs=5, keep_checkpoints=2, **SMALL), tmp_path)
    steps = Checkpointer(tmp_path / "checkpoints").steps()
    assert len(steps) == 2 and steps[-1] == 5 * (1293 // 32)


def test_existing_run_is_not_overwritten_without_resume(tmp_path):
    train_and_evaluate(quick("mlp", epochs=1, **SMALL), tmp_path)
    with pytest.raises(ZooError, match="--resume"):
        train_and_evaluate(quick("mlp", epochs=2, **SMALL), tmp_path)


def test_mismatched_checkpoint_lists_keys(tmp_path):
    train_and_evaluate(quick("mlp", epochs=1, **SMALL), tmp_path)
    other = quick("mlp", epochs=2, resume=True, dataset="digits", batch_size=32, model_overrides={"hidden": (16,)})
    with pytest.raises(CheckpointError, match=r"does not match this model[\s\S]*hidden_0.*\[64, 32\].*\[64, 16\]"):
        train_and_evaluate(other, tmp_path)


def test_corrupted_checkpoint_is_reported_and_earlier_one_untouched(tmp_path):
    train_and_evaluate(quick("mlp", epochs=2, **SMALL), tmp_path)
    ckpt_dir = tmp_path / "checkpoints"
    first, latest = Checkpointer(ckpt_dir).steps()
    for f in (ckpt_dir / str(latest) / "state").rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "metadata" not in f.name:
            f.write_bytes(b"\0garbage")
    with pytest.raises(CheckpointError, match=rf"step {latest}.*corrupted[\s\S]*resume from step {first}"):
        train_and_evaluate(quick("mlp", epochs=3, resume=True, **SMALL), tmp_path)
    assert (ckpt_dir / str(first)).is_dir()
    shutil.move(ckpt_dir / str(latest), tmp_path / "bad")  # the fix the message names
    resumed = train_and_evaluate(quick("mlp", epochs=3, resume=True, **SMALL), tmp_path)
    assert resumed.summary["epochs"] == 3


KILL_RUN_EPOCHS = 4  # 320 steps, a checkpoint every 7: killed after step 100, with 200 steps to spare


def _cli(workdir, *extra):
    return [sys.executable, "-m", "train", "mlp", "--data", "digits", "--epochs", str(KILL_RUN_EPOCHS),
            "--batch-size", "16", "--set", "hidden=64,", "--checkpoint-every", "7", "--keep-checkpoints", "2",
            "--no-progress", "--no-plots", "--workdir", str(workdir), *extra]


def test_kill_dash_9_then_resume_is_bitwise_equal(tmp_path, capsys):
    # The unbroken reference runs in this process, through the same command line (no interpreter to start).
    assert train_main(_cli(tmp_path / "ref")[3:]) == 0

    ckpt_dir = tmp_path / "run" / "checkpoints"
    kill_once_checkpointed(_cli(tmp_path / "run"), ckpt_dir, after_step=100)
    killed_at = max(Checkpointer(ckpt_dir).steps())
    assert killed_at < KILL_RUN_EPOCHS * (1293 // 16)

    resumed = subprocess.run(_cli(tmp_path / "run", "--resume"), cwd=ROOT, env=python_env(), capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ref_networks, ref_record = saved_networks(tmp_path / "ref")
    run_networks, run_record = saved_networks(tmp_path / "run")
    jax.tree.map(np.testing.assert_array_equal, ref_networks, run_networks)  # params and optimizer states
    assert run_record["history"] == ref_record["history"]
