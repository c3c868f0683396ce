"""Published-figure checks on real data, about 25 s each on 2 CPU cores; skipped where the data is absent."""
from conftest import quick
from train import train_and_evaluate


def test_mlp_on_mnist_reaches_098(shared_data, tmp_path):
    summary = train_and_evaluate(quick("mlp", dataset="mnist", data_dir=str(shared_data)), tmp_path).summary
    assert summary["test_accuracy"] >= 0.98  # Keras mnist_mlp: 0.984


def test_mlp_on_fashion_mnist_beats_zalando_mlp(fashion_dir, tmp_path):
    summary = train_and_evaluate(quick("mlp", dataset="fashion_mnist"), tmp_path).summary
    assert summary["test_accuracy"] >= 0.89  # Zalando benchmark, MLP 256-128-100: 0.8833
