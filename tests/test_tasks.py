"""The task abstraction: every card's task is registered; a task with two networks (tests/toy_gan.py) trains,
checkpoints and resumes through the shared loop exactly like the one-network ones."""
import sys

import jax
import numpy as np
import pytest

import toy_gan
import zoo
from conftest import quick
from helpers import kill_once_checkpointed, run_module, saved_networks
from train import train_and_evaluate
from train.cli.train import main as train_main
from train.tasks import TASKS, task_for
from zoo.errors import UnknownNameError, ZooError


def test_every_card_names_a_registered_task():
    for name in zoo.list_models():
        card = zoo.model_card(name)
        assert card.task in TASKS, f"{name}: no task {card.task!r}"
    with pytest.raises(UnknownNameError, match="Did you mean: seq2seq"):
        task_for("seq2sq")


def test_the_loop_names_no_task_or_family():
    """The loop knows iteration, placement, checkpoints, logs, the NaN stop and early stopping; nothing else."""
    from pathlib import Path

    loop = (Path(__file__).resolve().parents[1] / "train" / "loop.py").read_text().lower()
    names = set(TASKS) | {"graph", "seq2seq", "vocab", "token", "embedding", "image", "vision", "text",
                          "classification", "regression", "language_model", "codec", "pmap"}
    found = sorted(name for name in names if name in loop)
    assert not found, f"train/loop.py mentions {found}"


def test_two_networks_train_with_their_own_optimizers(tmp_path):
    result = train_and_evaluate(quick("mixture_gan", epochs=2, limit_train=1024, batch_size=64), tmp_path)
    state = result.state
    assert set(state.networks) == {"generator", "discriminator"}
    assert int(state.step) == 2 * 1024 // 64
    # Each network keeps an Adam state for its own parameters only.
    for name, network in state.networks.items():
        mu = network.opt_state[0].mu
        assert jax.tree.structure(mu) == jax.tree.structure(network.params), name
    with pytest.raises(AttributeError, match=r"state.network\(name\)"):
        _ = state.params  # ambiguous with two networks
    history = result.summary["history"]
    assert {"train_d_loss", "train_g_loss", "train_loss"} <= history[-1].keys()
    assert 0 <= result.summary["test_modes_covered"] <= toy_gan.MODES


def test_a_gan_covers_most_modes_of_the_ring(tmp_path):
    summary = train_and_evaluate(quick("mixture_gan", epochs=30), tmp_path).summary
    assert summary["test_modes_covered"] >= 6, summary["test_modes_covered"]


def _toy_cli(workdir, *extra):
    return [sys.executable, "-m", "tests.workers.train_toy_gan", "mixture_gan", "--epochs", "6", "--batch-size",
            "64", "--limit-train", "1024", "--checkpoint-every", "5", "--keep-checkpoints", "2", "--no-progress",
            "--no-plots", "--workdir", str(workdir), *extra]


def test_two_network_run_killed_with_kill_dash_9_resumes_bitwise_equal(tmp_path):
    assert train_main(_toy_cli(tmp_path / "ref")[3:]) == 0  # the unbroken run, in this process
    kill_once_checkpointed(_toy_cli(tmp_path / "run"), tmp_path / "run" / "checkpoints", after_step=30)
    resumed = run_module(_toy_cli(tmp_path / "run", "--resume")[2:], timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ref, ref_record = saved_networks(tmp_path / "ref")
    run, run_record = saved_networks(tmp_path / "run")
    assert set(run) == {"generator", "discriminator"}
    jax.tree.map(np.testing.assert_array_equal, ref, run)  # both networks' params and optimizer states
    assert run_record["history"] == ref_record["history"]


def test_a_task_refuses_data_of_another_kind(tmp_path):
    with pytest.raises(ZooError, match=r"mixture_gan is a toy_gan model but digits is a classification data set"):
        train_and_evaluate(quick("mixture_gan", dataset="digits", epochs=1), tmp_path)
