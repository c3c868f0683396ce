"""MobileNetV2 and EfficientNet-Lite0: sizes, width rule, switches, preprocessing, and real ImageNet weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo
from zoo.errors import InputShapeError
from zoo.vision import extract_features
from zoo.vision.efficientnet_lite import rename_torch_key
from zoo.vision.mobilenet_v2 import make_divisible
from zoo.vision.preprocess import preprocess_image

# torchvision's documented num_params for MobileNet_V2 IMAGENET1K_V1; the Lite0 file's parameter total
# (the efficientnet-lite-pytorch model agrees, see test_parity_mobile.py).
PARAM_COUNTS = {"mobilenet_v2": 3_504_872, "efficientnet_lite0": 4_652_008}
CAT_CLASSES = {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat", 285: "Egyptian cat"}


def _shapes(model, x_shape=(1, 32, 32, 3)):
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x_shape)))


def _quick_variables(model, x_shape=(1, 32, 32, 3)):
    """Random variables shaped like `model.init`'s, without compiling its ~150 initialisers (tens of seconds)."""
    rng = np.random.default_rng(0)

    def fill(path, leaf):
        if path[-1].key == "var":
            return jnp.ones(leaf.shape, leaf.dtype)
        return jnp.asarray(rng.normal(0.0, 0.1, leaf.shape), leaf.dtype)

    return jax.tree_util.tree_map_with_path(fill, _shapes(model, x_shape))


@pytest.mark.parametrize("name", sorted(PARAM_COUNTS))
def test_param_count_matches_reference(name):
    assert zoo.card(name)["param_count"] == PARAM_COUNTS[name]


def test_make_divisible_follows_the_tf_rule():
    assert [make_divisible(v) for v in (8, 12, 16 * 0.35, 32 * 1.4, 1280 * 1.4, 20)] == [8, 16, 8, 48, 1792, 24]
    assert make_divisible(11) == 16  # rounding to 8 would lose more than 10%
    assert make_divisible(10, 1) == 10


def test_mobilenet_v2_width_mult_scales_channels_by_the_rule():
    params = _shapes(zoo.create("mobilenet_v2", width_mult=0.5))["params"]
    assert params["features_0_0"]["kernel"].shape == (3, 3, 3, 16)  # 32 * 0.5
    # Each stage's project conv: t=1 block has it at conv_1, the others at conv_2.
    project = [params["features_1"]["conv_1"]["kernel"].shape[-1]] + [
        params[f"features_{i}"]["conv_2"]["kernel"].shape[-1] for i in range(2, 18)]
    assert project == [8, 16, 16, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 80, 80, 80, 160]
    # Depthwise conv of block 2: expanded 8 * 6 = 48 channels, one input channel per group.
    assert params["features_2"]["conv_1_0"]["kernel"].shape == (3, 3, 1, 48)
    assert params["features_18_0"]["kernel"].shape == (1, 1, 160, 1280)  # the last conv never narrows
    wide = _shapes(zoo.create("mobilenet_v2", width_mult=1.4))["params"]
    assert wide["features_0_0"]["kernel"].shape[-1] == 48 and wide["classifier_1"]["kernel"].shape == (1792, 1000)


def test_mobilenet_v2_names_follow_torchvision():
    variables = _shapes(zoo.create("mobilenet_v2"))
    assert set(variables["params"]) == {"features_0_0", "features_0_1", "features_18_0", "features_18_1",
                                        "classifier_1", *(f"features_{i}" for i in range(1, 18))}
    assert set(variables["params"]["features_1"]) == {"conv_0_0", "conv_0_1", "conv_1", "conv_2"}
    assert set(variables["params"]["features_2"]) == {"conv_0_0", "conv_0_1", "conv_1_0", "conv_1_1", "conv_2",
                                                      "conv_3"}
    assert set(variables["batch_stats"]["features_2"]) == {"conv_0_1", "conv_1_1", "conv_3"}


def test_efficientnet_lite0_names_follow_the_pytorch_package():
    params = _shapes(zoo.create("efficientnet_lite0"))["params"]
    assert set(params) == {"conv_stem", "bn0", "conv_head", "bn1", "fc", *(f"blocks_{i}" for i in range(16))}
    assert set(params["blocks_0"]) == {"depthwise_conv", "bn1", "project_conv", "bn2"}  # no expansion, no SE
    assert set(params["blocks_1"]) == {"expand_conv", "bn0", "depthwise_conv", "bn1", "project_conv", "bn2"}
    assert params["blocks_3"]["depthwise_conv"]["kernel"].shape == (5, 5, 1, 144)
    assert rename_torch_key("_blocks.3._bn0.running_var") == "blocks.3.bn0.running_var"
    assert rename_torch_key("_fc.weight") == "fc.weight"


def test_efficientnet_lite0_pads_like_tensorflow_same():
    # TF 'SAME': every stride-2 layer gives ceil(H/2); 5 of them take 33 -> 17 -> 9 -> 5 -> 3 -> 2.
    model = zoo.create("efficientnet_lite0", num_classes=4)
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.ones((1, 33, 33, 3)),
                                                  capture_intermediates=lambda m, _: m.name == "conv_head"))
    assert variables["intermediates"]["conv_head"]["__call__"][0].shape == (1, 2, 2, 1280)


@pytest.mark.parametrize("name", sorted(PARAM_COUNTS))
def test_bf16_compute_gives_f32_logits_and_embeddings(name):
    model = zoo.create(name, num_classes=5, dtype=jnp.bfloat16)
    x = jnp.ones((2, 32, 32, 3))
    variables = _quick_variables(model)
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    logits, embedding = jax.jit(lambda v, x: (model.apply(v, x), extract_features(model, v, x)))(variables, x)
    assert logits.dtype == jnp.float32 and logits.shape == (2, 5)
    assert embedding.shape == (2, 1280)


def test_efficientnet_drop_connect_is_random_in_training_only():
    model = zoo.create("efficientnet_lite0", num_classes=3, dropout=0.0)
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    variables = _quick_variables(model)

    @jax.jit
    def train_logits(key):
        return model.apply(variables, x, train=True, rngs={"dropout": key}, mutable=["batch_stats"])[0]

    assert not np.allclose(train_logits(jax.random.key(0)), train_logits(jax.random.key(1)))  # drop-connect only
    eval_logits = jax.jit(lambda key: model.apply(variables, x, rngs={"dropout": key}))
    np.testing.assert_array_equal(eval_logits(jax.random.key(0)), eval_logits(jax.random.key(1)))


def test_preprocess_image_resizes_crops_and_normalises():
    img = np.full((300, 451, 3), 255, np.uint8)
    spec = {"resize": 256, "crop": 224, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.5, 1.0), "interpolation": "bicubic"}
    x = preprocess_image(img, spec)
    assert x.shape == (224, 224, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], [2.0, 1.0, 0.5], atol=1e-6)
    assert preprocess_image(np.zeros((40, 30), np.uint8), {"crop": 24}).shape == (24, 24, 3)  # grey, no resize
    with pytest.raises(InputShapeError, match="uint8"):
        preprocess_image(img.astype(np.float32), spec)
    with pytest.raises(InputShapeError, match="smaller than"):
        preprocess_image(img, {"crop": 400})


def test_efficientnet_lite0_real_weights_see_a_cat():
    """scikit-image's Chelsea (a tabby) with the real ImageNet weights and the card's preprocessing."""
    skimage_data = pytest.importorskip("skimage.data")
    from zoo.weights import MissingWeightsError, load_pretrained

    try:
        model, variables = load_pretrained("efficientnet_lite0", "imagenet")
    except MissingWeightsError as err:
        pytest.skip(str(err))
    card = zoo.model_card("efficientnet_lite0")
    x = jnp.asarray(preprocess_image(skimage_data.chelsea(), card.preprocessing))[None]  # [1, 224, 224, 3]
    probs = np.asarray(jax.nn.softmax(jax.jit(model.apply)(variables, x)))[0]
    top5 = [int(i) for i in np.argsort(-probs)[:5]]
    print("top-5:", [(i, CAT_CLASSES.get(i, "?"), round(float(probs[i]), 4)) for i in top5])
    # Measured: 285 Egyptian cat 0.380, 282 tiger cat 0.332, 281 tabby 0.169. The two striped-cat classes
    # are close: a 256-px resize before the crop (TF's own eval crop) swaps them (282 0.395, 285 0.355).
    assert top5[0] == 285, f"expected Egyptian cat (285) first, got {top5}"
    assert sum(probs[i] for i in CAT_CLASSES) > 0.85
