import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, python_env, run_module


def test_list_shows_models_and_datasets():
    proc = run_module(["train", "--list"], timeout=120)
    assert proc.returncode == 0
    for name in ("perceptron", "logistic_regression", "linear_svm", "mlp", "mlp_small", "fashion_mnist"):
        assert name in proc.stdout


def test_console_script_has_the_same_interface():
    beside_python = Path(sys.executable).with_name("zoo-train")  # a venv's bin/ need not be on PATH
    exe = str(beside_python) if beside_python.exists() else shutil.which("zoo-train")
    if exe is None:
        pytest.skip("zoo-train is not on PATH (package not installed with pip)")
    proc = subprocess.run([exe, "--list", "--family", "mlp"], env=python_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "mlp_small" in proc.stdout and "perceptron" not in proc.stdout


def test_train_run_writes_summary(tmp_path):
    proc = run_module(["train", "mlp", "--data", "digits", "--epochs", "2", "--batch-size", "64", "--optimizer",
                       "adamw", "--lr", "0.003", "--weight-decay", "0.01", "--schedule", "cosine", "--warmup-steps",
                       "5", "--clip-norm", "1.0", "--seed", "3", "--set", "hidden=128,64", "--workdir",
                       str(tmp_path), "--no-progress"], timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "test accuracy" in proc.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {"model", "dataset", "epochs", "steps", "test_loss", "test_accuracy"} <= summary.keys()
    assert summary["model"] == "mlp" and summary["dataset"] == "digits" and summary["epochs"] == 2
    assert summary["config"]["optim"]["name"] == "adamw" and summary["config"]["run"]["seed"] == 3
    assert summary["config"]["model_overrides"] == [["hidden", [128, 64]]]


@pytest.mark.parametrize("argv,message", [
    (["mlpp"], "unknown model 'mlpp'. Did you mean: mlp"),
    (["mlp", "--data", "mnist", "--data-dir", "/nonexistent"], "--data-dir DIR (or set ZOO_DATA_DIR)"),
    (["mlp", "--data", "digits", "--optimizer", "adamm"], "unknown optimizer 'adamm'. Did you mean: adam"),
])
def test_bad_input_exits_2_with_the_fix(argv, message, tmp_path):
    proc = run_module(["train", *argv, "--workdir", str(tmp_path / "w"), "--no-progress"], timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
