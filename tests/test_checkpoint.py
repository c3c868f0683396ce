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
    resumed = train_and_evaluate(quick("mlp", epochs=4, resume=True, allow_changed="epochs", **run),
                                 tmp_path / "split")
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
    other = quick("mlp", epochs=2, resume=True, dataset="digits", batch_size=32, model_overrides={"hidden": (16,)},
                  allow_changed="epochs,model_overrides")
    with pytest.raises(CheckpointError, match=r"does not match this model[\s\S]*hidden_0.*\[64, 32\].*\[64, 16\]"):
        train_and_evaluate(other, tmp_path)


def test_corrupted_checkpoint_is_reported_and_earlier_one_untouched(tmp_path):
    train_and_evaluate(quick("mlp", epochs=2, **SMALL), tmp_path)
    ckpt_dir = tmp_path / "checkpoints"
    first, latest = Checkpointer(ckpt_dir).steps()
    for f in (ckpt_dir / str(latest) / "state").rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "metadata" not in f.name:
            f.write_bytes(b"\0garbage")
    with pytest.raises(CheckpointError,
                       match=rf"step {latest}.*corrupted[\s\S]*newest intact checkpoint is step {first}"):
        train_and_evaluate(quick("mlp", epochs=3, resume=True, allow_changed="epochs", **SMALL), tmp_path)
    assert (ckpt_dir / str(first)).is_dir()
    shutil.move(ckpt_dir / str(latest), tmp_path / "bad")  # the fix the message names
    resumed = train_and_evaluate(quick("mlp", epochs=3, resume=True, allow_changed="epochs", **SMALL), tmp_path)
    assert resumed.summary["epochs"] == 3


KILL_RUN_EPOCHS = 4  # 320 steps, a checkpoint every 7
KILL_RUN_STEPS = KILL_RUN_EPOCHS * (1293 // 16)


def _cli(workdir, *extra):
    return [sys.executable, "-m", "train", "mlp", "--data", "digits", "--epochs", str(KILL_RUN_EPOCHS),
            "--batch-size", "16", "--set", "hidden=64,", "--checkpoint-every", "7", "--keep-checkpoints", "2",
            "--no-progress", "--workdir", str(workdir), *extra]


def test_ten_kill_dash_9_then_resume_is_bitwise_equal(tmp_path, capsys):
    # The unbroken reference runs in this process, through the same command line (no interpreter to start).
    assert train_main(_cli(tmp_path / "ref")[3:]) == 0

    # Ten kills at seeded moments: each once the run has passed a drawn step, plus a drawn delay, so they land
    # mid-step, mid-save, in an epoch's evaluation or while the run is being resumed.
    rng = np.random.default_rng(1213)
    targets = np.sort(rng.choice(np.arange(8, KILL_RUN_STEPS - 20), 10, replace=False))
    ckpt_dir = tmp_path / "run" / "checkpoints"
    for i, target in enumerate(targets):
        kill_once_checkpointed(_cli(tmp_path / "run", *(["--resume"] if i else [])), ckpt_dir,
                               after_step=int(target), delay=float(rng.uniform(0, 0.05)))
        assert max(Checkpointer(ckpt_dir).steps()) < KILL_RUN_STEPS

    resumed = subprocess.run(_cli(tmp_path / "run", "--resume"), cwd=ROOT, env=python_env(), capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ref_networks, ref_record = saved_networks(tmp_path / "ref")
    run_networks, run_record = saved_networks(tmp_path / "run")
    jax.tree.map(np.testing.assert_array_equal, ref_networks, run_networks)  # params and optimizer states
    assert run_record["history"] == ref_record["history"]
