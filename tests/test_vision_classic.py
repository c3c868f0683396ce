"""LeNet-5, the tutorial CNN, AlexNet and VGG: sizes, shapes, names and switches, without torch."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo
from zoo.errors import InputShapeError
from zoo.registry import count_params
from zoo.vision import extract_features

# torchvision's documented num_params for its IMAGENET1K_V1 weights; LeNet-5 and the tutorial net by hand.
PARAM_COUNTS = {
    "lenet5": 61_706,  # 156 + 2,416 + 48,120 + 10,164 + 850 on 28x28x1
    "cnn_small": 107_786,  # on 28x28x1 with 'same' padding: fc1 reads 16x7x7 = 784 features
    "alexnet": 61_100_840,
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992, "vgg19_bn": 143_678_248,
}

# A VGG small enough to run in milliseconds, with BatchNorm, for behaviour tests.
TINY_VGG = {"config": (8, "M", 16, "M"), "batch_norm": True, "num_classes": 5}


def _shapes(model, x_shape):
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x_shape)))


@pytest.mark.parametrize("name", sorted(PARAM_COUNTS))
def test_param_count_matches_reference(name):
    assert zoo.card(name)["param_count"] == PARAM_COUNTS[name]


def test_tutorial_net_on_cifar_sized_input_has_the_tutorial_count():
    # The PyTorch tutorial's net on 32x32x3: 62,006 parameters, fc1 reads 16x5x5.
    model = zoo.create("cnn_small", padding=(0, 0))
    assert count_params(model, (32, 32, 3)) == 62_006
    assert _shapes(model, (1, 32, 32, 3))["params"]["fc1"]["kernel"].shape == (400, 120)


def test_lenet5_sees_the_papers_32x32_geometry_on_28x28():
    params = _shapes(zoo.create("lenet5"), (1, 28, 28))["params"]
    assert set(params) == {"conv1", "conv2", "fc1", "fc2", "fc3"}
    assert params["conv1"]["kernel"].shape == (5, 5, 1, 6)
    assert params["fc1"]["kernel"].shape == (16 * 5 * 5, 120)  # C5 of the paper: 5x5x16 inputs


def test_vgg_names_follow_torchvision_sequential_indices():
    # Config A with BatchNorm: conv at i, BatchNorm at i+1, ReLU at i+2, pools take one index each.
    variables = _shapes(zoo.create("vgg11_bn"), (1, 32, 32, 3))
    convs = [0, 4, 8, 11, 15, 18, 22, 25]
    expected = {f"features_{i}" for i in convs} | {f"features_{i + 1}" for i in convs}
    assert set(variables["params"]) == expected | {"classifier_0", "classifier_3", "classifier_6"}
    assert set(variables["batch_stats"]) == {f"features_{i + 1}" for i in convs}
    plain = _shapes(zoo.create("vgg11"), (1, 32, 32, 3))
    assert "batch_stats" not in plain
    assert set(plain["params"]) == {f"features_{i}" for i in (0, 3, 6, 8, 11, 13, 16, 18)} | {
        "classifier_0", "classifier_3", "classifier_6"}


def test_alexnet_names_follow_torchvision():
    params = _shapes(zoo.create("alexnet", num_classes=7), (1, 63, 63, 3))["params"]
    assert set(params) == {"features_0", "features_3", "features_6", "features_8", "features_10",
                           "classifier_1", "classifier_4", "classifier_6"}
    assert params["classifier_1"]["kernel"].shape == (256 * 6 * 6, 4096)
    assert params["classifier_6"]["kernel"].shape == (4096, 7)


@pytest.mark.parametrize("name, x_shape", [("lenet5", (3, 28, 28)), ("lenet5", (3, 32, 32, 1)),
                                           ("cnn_small", (3, 28, 28, 1)), ("cnn_small", (3, 32, 32, 3))])
def test_small_nets_output_and_embedding_shapes(name, x_shape):
    model = zoo.create(name)
    x = jax.random.normal(jax.random.key(0), x_shape)
    variables = model.init(jax.random.key(1), x)
    assert model.apply(variables, x).shape == (3, 10)
    assert extract_features(model, variables, x).shape == (3, 84)


@pytest.mark.parametrize("name, too_small, smallest", [
    ("lenet5", (1, 11, 11), (1, 12, 12)), ("cnn_small", (1, 3, 3, 3), (1, 4, 4, 3)),
    ("alexnet", (1, 62, 62, 3), (1, 63, 63, 3)), ("vgg11", (1, 31, 31, 3), (1, 32, 32, 3)),
])
def test_smallest_input_and_clear_error_below_it(name, too_small, smallest):
    model = zoo.create(name)
    assert jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(smallest))) is not None
    with pytest.raises(InputShapeError, match=r"at least .*resize"):
        jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(too_small)))


@pytest.mark.parametrize("name, overrides, x_shape", [
    ("lenet5", {}, (2, 28, 28)), ("cnn_small", {}, (2, 28, 28, 1)),
    ("vgg11_bn", TINY_VGG, (2, 8, 8, 3)), ("alexnet", {"num_classes": 3}, (2, 63, 63, 3)),
])
def test_bf16_compute_gives_f32_logits(name, overrides, x_shape):
    x = jax.random.uniform(jax.random.key(0), x_shape)
    model = zoo.create(name, dtype=jnp.bfloat16, **overrides)
    variables = jax.jit(model.init)(jax.random.key(1), x)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(variables))  # params stay f32
    logits = jax.jit(model.apply)(variables, x)
    assert logits.dtype == jnp.float32 and bool(jnp.isfinite(logits).all())
    reference = zoo.create(name, **overrides).apply(variables, x)
    np.testing.assert_allclose(logits, reference, atol=0.1 * max(1.0, float(jnp.abs(reference).max())))


def test_dropout_only_in_training():
    model = zoo.create("lenet5", dropout=0.5)
    x = jax.random.normal(jax.random.key(0), (4, 28, 28))
    variables = model.init(jax.random.key(1), x)
    np.testing.assert_array_equal(model.apply(variables, x), model.apply(variables, x))
    a = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
    b = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(3)})
    assert not np.allclose(a, b)


def test_vgg_bn_updates_running_stats_only_in_training():
    model = zoo.create("vgg11_bn", **TINY_VGG)
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, 3)) + 3.0
    variables = model.init(jax.random.key(1), x)
    _, state = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)}, mutable=["batch_stats"])
    before = variables["batch_stats"]["features_1"]["mean"]
    after = state["batch_stats"]["features_1"]["mean"]
    assert not np.allclose(before, after)
    assert extract_features(model, variables, x).shape == (4, 4096)
