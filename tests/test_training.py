"""End-to-end runs of the loop on the offline scikit-learn data sets."""
import json

import jax
import numpy as np
import pytest

import zoo
from conftest import quick
from train import NonFiniteLossError, train_and_evaluate
from train.data import register_dataset, sklearn_sets
from train.data.sources import ArraySource
from zoo.errors import ZooError


def test_mlp_on_digits_reaches_097(tmp_path):
    result = train_and_evaluate(quick("mlp", dataset="digits", epochs=20, batch_size=32), tmp_path)
    assert result.summary["test_accuracy"] >= 0.97


@pytest.mark.parametrize("model", ["logistic_regression", "linear_svm"])
def test_linear_models_on_breast_cancer_reach_095(model, tmp_path):
    result = train_and_evaluate(quick(model), tmp_path)  # the card's recipe, default data set
    assert result.summary["dataset"] == "breast_cancer"
    assert result.summary["test_accuracy"] >= 0.95
    assert result.summary["test_roc_auc"] >= 0.98


def test_perceptron_learns_breast_cancer(tmp_path):
    assert train_and_evaluate(quick("perceptron"), tmp_path).summary["test_accuracy"] >= 0.93


def test_linear_regression_on_diabetes(tmp_path):
    summary = train_and_evaluate(quick("linear_regression"), tmp_path).summary
    assert summary["test_accuracy"] is None
    assert summary["test_r2"] > 0.25 and summary["test_mse"] == pytest.approx(summary["test_loss"], rel=1e-5)


def test_same_seed_gives_bitwise_equal_params(tmp_path):
    config = quick("mlp", dataset="digits", epochs=2, model_overrides={"hidden": (32,)})
    a = train_and_evaluate(config, tmp_path / "a").state.params
    b = train_and_evaluate(config, tmp_path / "b").state.params
    c = train_and_evaluate(quick("mlp", dataset="digits", epochs=2, seed=1, model_overrides={"hidden": (32,)}),
                           tmp_path / "c").state.params
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert not np.array_equal(a["hidden_0"]["kernel"], c["hidden_0"]["kernel"])


def test_reports_written(tmp_path):
    config = quick("logistic_regression", epochs=3, plots=True)
    summary = train_and_evaluate(config, tmp_path).summary
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    for key in ("model", "dataset", "epochs", "steps", "test_loss", "test_accuracy", "test_precision",
                "test_recall", "test_f1", "test_roc_auc", "test_confusion_matrix"):
        assert key in on_disk, key
    assert on_disk["epochs"] == 3 and on_disk["test_accuracy"] == summary["test_accuracy"]
    assert np.sum(on_disk["test_confusion_matrix"]) == 114  # every breast_cancer test example counted once
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_f1"} <= lines[0].keys()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    for png in ("learning_curves.png", "confusion_matrix.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_early_stopping_on_validation_loss(tmp_path):
    # lr so large the validation loss cannot keep improving: patience 2 stops the run early.
    config = quick("mlp", dataset="digits", epochs=40, patience=2, optimizer="sgd", lr=3.0,
                   model_overrides={"hidden": (16,), "dropout": 0.0})
    summary = train_and_evaluate(config, tmp_path).summary
    assert summary["stop_reason"].startswith("early stopping")
    assert summary["epochs"] < 40
    val = [r["val_loss"] for r in summary["history"]]
    best = int(np.argmin(val))
    assert len(val) == best + 1 + 2  # stopped exactly `patience` epochs after the best


@register_dataset("digits_with_nan")
def _digits_with_nan(request):
    ds = sklearn_sets.load("digits")
    train = ds.splits["train"]
    x = train.x.copy()
    x[5:] = np.nan  # every batch after the first few holds a NaN example
    ds.splits["train"] = ArraySource(x, train.y)
    return ds


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    from train.checkpoint import Checkpointer

    settings = dict(validation_fraction=0.0, model_overrides={"hidden": (8,)})
    train_and_evaluate(quick("mlp", dataset="digits", epochs=1, **settings), tmp_path)
    saved = Checkpointer(tmp_path / "checkpoints").steps()
    bad = quick("mlp", dataset="digits_with_nan", epochs=3, resume=True, allow_changed="dataset,epochs", **settings)
    with pytest.raises(NonFiniteLossError, match=r"stopped at step \d+: loss nan.*The last checkpoint, step "
                                                 rf"{saved[-1]}, was saved before it and is intact"):
        train_and_evaluate(bad, tmp_path)
    assert Checkpointer(tmp_path / "checkpoints").steps() == saved
    # The good checkpoint still resumes, and training goes on with finite values.
    resumed = train_and_evaluate(quick("mlp", dataset="digits", epochs=2, resume=True, allow_changed="epochs",
                                       **settings), tmp_path)
    assert resumed.summary["epochs"] == 2
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(resumed.state.params))


def test_task_mismatch_is_explained(tmp_path):
    with pytest.raises(ZooError, match="regression model.*classification data set"):
        train_and_evaluate(quick("linear_regression", dataset="digits"), tmp_path)


def test_batch_larger_than_data_is_explained(tmp_path):
    with pytest.raises(ValueError, match="--batch-size"):
        train_and_evaluate(quick("mlp", dataset="iris", batch_size=4096), tmp_path)


def test_trained_model_is_usable_with_apply(tmp_path):
    result = train_and_evaluate(quick("mlp", dataset="digits", epochs=3), tmp_path)
    x = np.zeros((2, 8, 8), np.float32)
    assert result.model.apply({"params": result.state.params}, x).shape == (2, 10)
    assert zoo.create("mlp").hidden == result.model.hidden


def test_epochs_of_a_fixed_number_of_steps_read_on_through_the_data(tmp_path):
    """--steps-per-epoch (Keras's steps_per_epoch): epochs end every N steps and the next one reads on where the
    last stopped, pass after pass, so a short epoch never rereads the start of the data."""
    from train.data import ArraySource
    from train.data.batching import stream_batches, train_batches

    source = ArraySource(np.arange(10, dtype=np.float32)[:, None], np.arange(10))
    one_pass = [b["y"].tolist() for b in train_batches(source, 3, seed=1, epoch=0)]
    second_pass = [b["y"].tolist() for b in train_batches(source, 3, seed=1, epoch=1)]
    streamed = [b["y"].tolist() for b, _ in zip(stream_batches(source, 3, seed=1, step=0), range(6))]
    assert streamed == one_pass + second_pass  # 3 steps per pass (the partial batch dropped), then pass 2
    assert [b["y"].tolist() for b, _ in zip(stream_batches(source, 3, seed=1, step=4), range(2))] == second_pass[1:]
    run = train_and_evaluate(quick("mlp", dataset="digits", epochs=3, steps_per_epoch=4, batch_size=32,
                                   model_overrides={"hidden": (16,)}), tmp_path)
    assert [(h["epoch"], h["step"]) for h in run.summary["history"]] == [(1, 4), (2, 8), (3, 12)]
    assert all("val_loss" in h for h in run.summary["history"])
