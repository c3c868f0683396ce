"""Vision Transformer: sizes, positional-table checks, the weight port's errors, attention maps, zoo-predict."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.errors import InputShapeError, SettingError
from zoo.vision.attention_maps import (attention_rollout, attention_weights, patch_attention, save_attention_matrix,
                                       save_vit_attention)
from zoo.vision.vit import TORCH_KEY_RENAME
from zoo.weights.convert import WeightsMismatchError, torch_to_flax
from zoo.weights.torchvision_vit import rename, to_torchvision

TINY = dict(patch_size=4, hidden_dim=32, num_layers=2, num_heads=2, mlp_dim=64, num_classes=5, pool="cls")


def _init(model, shape, seed=0):
    return model.init(jax.random.key(seed), jnp.zeros((1, *shape)))


@pytest.mark.parametrize("name, width, heads, params", [
    ("vit_b_16", 768, 12, 86_567_656),  # torchvision's documented vit_b_16 num_params
    ("vit_s_16", 384, 6, 22_050_664),  # DeiT-S (timm deit_small_patch16_224)
    ("vit_ti_16", 192, 3, 5_717_416),  # DeiT-Ti (timm deit_tiny_patch16_224)
])
def test_sizes_and_parameter_counts(name, width, heads, params):
    card = zoo.card(name)  # counted at the card's 224 px crop: 196 patches + the class token
    assert card["param_count"] == params
    model = zoo.create(name, num_classes=10)
    assert (model.hidden_dim, model.num_heads, model.num_layers) == (width, heads, 12)
    for size in (32, 48):  # any multiple of 16: the table is sized by the image the model is built with
        out = jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), jnp.zeros((2, size, size, 3)))[0])
        assert out.shape == (2, 10)


def test_small_vit_forward_grey_and_rgb():
    model = zoo.create("vit_mini", num_classes=10)
    x = jax.random.uniform(jax.random.key(0), (3, 28, 28))  # Fashion-MNIST as it comes: grey, no channel axis
    # One compiled program (init + forward): op-by-op dispatch costs more than compiling on a busy 2-core CPU.
    logits, variables = jax.jit(model.init_with_output)(jax.random.key(0), x)
    assert logits.shape == (3, 10) and bool(jnp.all(jnp.isfinite(logits)))
    # Average pooling: no class token, one table row per 4x4 patch.
    assert "class_token" not in variables["params"]
    assert variables["params"]["encoder"]["pos_embedding"].shape == (1, 7 * 7, model.hidden_dim)
    half = zoo.create("vit_mini", num_classes=10, dtype=jnp.bfloat16)  # bf16 compute, f32 params and logits
    assert jax.eval_shape(half.apply, variables, x).dtype == jnp.float32
    with_token = zoo.create("vit_mini", **TINY)  # TINY keeps the class token
    logits, variables = jax.eval_shape(with_token.init_with_output, jax.random.key(0), jnp.ones((2, 16, 16, 3)))
    assert logits.shape == (2, 5) and variables["params"]["class_token"].shape == (1, 1, 32)
    assert variables["params"]["encoder"]["pos_embedding"].shape == (1, 17, 32)  # the class token's row first


def test_bad_image_sizes_name_the_fix():
    model = zoo.create("vit_mini", **TINY)
    variables = _init(model, (16, 16, 3))
    with pytest.raises(InputShapeError, match=r"multiples of 4, got 18x18; resize or crop to 16x16"):
        model.apply(variables, jnp.ones((1, 18, 18, 3)))
    with pytest.raises(InputShapeError, match=r"4x4 grid\) but the image gives 6x6.*interpolate_positions=True"):
        model.apply(variables, jnp.ones((1, 24, 24, 3)))
    with pytest.raises(InputShapeError, match="at least 4x4"):
        model.apply(variables, jnp.ones((1, 2, 2, 3)))
    with pytest.raises(InputShapeError, match="NHWC"):
        model.apply(variables, jnp.ones((16, 16)))
    with pytest.raises(SettingError, match="pool must be"):
        _init(zoo.create("vit_mini", **{**TINY, "pool": "max"}), (16, 16, 3))
    # torchvision's fixed image_size refuses another size at init already.
    with pytest.raises(InputShapeError, match="interpolate_positions"):
        _init(zoo.create("vit_mini", image_size=32, **TINY), (16, 16, 3))


def test_interpolated_positions_serve_another_resolution():
    model = zoo.create("vit_mini", interpolate_positions=True, **TINY)
    variables = _init(model, (16, 16, 3))
    x16 = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
    # Same grid: the table is used as it is, identical to a model without the option.
    np.testing.assert_array_equal(model.apply(variables, x16), zoo.create("vit_mini", **TINY).apply(variables, x16))
    out = model.apply(variables, jax.random.normal(jax.random.key(2), (2, 24, 24, 3)))  # 6x6 from the 4x4 table
    assert out.shape == (2, 5) and bool(jnp.all(jnp.isfinite(out)))


def test_torchvision_keys_rename_and_export_round_trip():
    assert rename("encoder.layers.encoder_layer_3.self_attention.in_proj_weight") == \
        "encoder.layers.encoder_layer_3.self_attention.qkv.weight"
    assert rename("encoder.layers.encoder_layer_0.mlp.3.bias") == "encoder.layers.encoder_layer_0.mlp.down.bias"
    assert rename("encoder.layers.encoder_layer_0.mlp.linear_1.weight") == "encoder.layers.encoder_layer_0.mlp.up.weight"
    assert rename("conv_proj.weight") == "conv_proj.weight" and TORCH_KEY_RENAME("heads.head.bias") == "heads.head.bias"
    model = zoo.create("vit_mini", **TINY)
    variables = _init(model, (16, 16, 3))
    state = to_torchvision(variables)
    assert state["encoder.layers.encoder_layer_1.self_attention.in_proj_weight"].shape == (96, 32)  # torch [3D, D]
    assert state["conv_proj.weight"].shape == (32, 3, 4, 4) and state["encoder.pos_embedding"].shape == (1, 17, 32)
    assert {"class_token", "heads.head.weight", "encoder.ln.weight", "encoder.layers.encoder_layer_0.mlp.0.weight",
            "encoder.layers.encoder_layer_0.self_attention.out_proj.bias"} <= state.keys()
    back = torch_to_flax(state, jax.eval_shape(lambda: variables), rename=TORCH_KEY_RENAME)
    jax.tree.map(np.testing.assert_array_equal, back, jax.tree.map(np.asarray, variables))


def test_wrong_state_dict_lists_every_mismatch():
    state = to_torchvision(_init(zoo.create("vit_mini", **TINY), (16, 16, 3)))
    deeper = jax.eval_shape(lambda: _init(zoo.create("vit_mini", **{**TINY, "num_layers": 3}), (16, 16, 3)))
    with pytest.raises(WeightsMismatchError) as info:
        torch_to_flax(state, deeper, rename=TORCH_KEY_RENAME)
    message = str(info.value)
    # One more block: 2 LayerNorms x 2 + qkv, out, up, down x (kernel, bias) = 12 variables.
    assert "missing from the file (12)" in message and "encoder/layers/encoder_layer_2/self_attention/qkv/kernel" in message
    wider = jax.eval_shape(lambda: _init(zoo.create("vit_mini", **{**TINY, "hidden_dim": 64}), (16, 16, 3)))
    with pytest.raises(WeightsMismatchError, match=r"encoder.pos_embedding: file \(1, 17, 32\)"):
        torch_to_flax(state, wider, rename=TORCH_KEY_RENAME)
    other_grid = jax.eval_shape(lambda: _init(zoo.create("vit_mini", **TINY), (32, 32, 3)))
    with pytest.raises(WeightsMismatchError, match=r"model params/encoder/pos_embedding \(1, 65, 32\)"):
        torch_to_flax(state, other_grid, rename=TORCH_KEY_RENAME)
    # A new number of classes: the head is kept from the template, the rest loads.
    ten = jax.eval_shape(lambda: _init(zoo.create("vit_mini", **{**TINY, "num_classes": 10}), (16, 16, 3)))
    with pytest.raises(WeightsMismatchError, match="heads.head.weight"):
        torch_to_flax(state, ten, rename=TORCH_KEY_RENAME)
    loaded = torch_to_flax(state, ten, rename=TORCH_KEY_RENAME, keep=zoo.model_card("vit_mini").head)
    np.testing.assert_array_equal(loaded["params"]["class_token"], state["class_token"])


def test_attention_maps_and_pngs(tmp_path):
    model = zoo.create("vit_mini", **TINY)
    variables = _init(model, (16, 16, 3))
    images = np.asarray(jax.random.uniform(jax.random.key(3), (2, 16, 16, 3)))
    weights = attention_weights(model, variables, images)
    assert len(weights) == 2 and weights[0].shape == (2, 2, 17, 17)  # [B, heads, 1 + 16 patches, same]
    for layer in weights:
        np.testing.assert_allclose(layer.sum(-1), 1.0, atol=1e-5)
    rolled = attention_rollout(weights)
    np.testing.assert_allclose(rolled.sum(-1), 1.0, atol=1e-5)
    for method in ("rollout", "last"):
        maps = patch_attention(model, variables, images, method)
        assert maps.shape == (2, 4, 4) and (maps >= 0).all() and (maps.sum((1, 2)) <= 1 + 1e-5).all()
    with pytest.raises(ValueError, match="rollout, last"):
        patch_attention(model, variables, images, "average")
    pooled = zoo.create("vit_mini", **{**TINY, "pool": "mean"})  # no class token: the mean row, patches only
    maps = patch_attention(pooled, _init(pooled, (16, 16, 3)), images)
    np.testing.assert_allclose(maps.sum((1, 2)), 1.0, atol=1e-5)

    path = save_vit_attention(model, variables, images, tmp_path / "vit" / "attention.png", titles=["a", "b"])
    with Image.open(path) as png:
        assert png.format == "PNG" and min(png.size) > 100
    tokens = ["[CLS]", "the", "cat", "sat", "[SEP]"]
    text_weights = np.full((3, 5, 5), 0.2, np.float32)  # a text model's layer: [heads, T, T]
    for w in (text_weights, text_weights[0]):
        with Image.open(save_attention_matrix(w, tokens, tmp_path / f"text{w.ndim}.png", title="layer 0")) as png:
            assert png.format == "PNG"
    with pytest.raises(ValueError, match="4 token labels for 5x5"):
        save_attention_matrix(text_weights, tokens[:4], tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        save_attention_matrix(np.zeros((2, 3, 5, 5)), tokens, tmp_path / "bad.png")


def test_zoo_predict_on_a_trained_checkpoint(fashion_dir, tmp_path, capsys):
    """Train the card's vit_mini for a few steps, export the checkpoint as a torchvision state dict, predict."""
    from conftest import quick

    from train import train_and_evaluate
    from train.checkpoint import Checkpointer
    from train.cli.predict import main, prepare

    config = quick("vit_mini", dataset="fashion_mnist", limit_train=256, limit_test=128, validation_fraction=0.0,
                   epochs=1, batch_size=128, warmup_steps=0)
    result = train_and_evaluate(config, tmp_path / "run")
    checkpointer = Checkpointer(tmp_path / "run" / "checkpoints")
    try:
        params = checkpointer.restore_params()
    finally:
        checkpointer.close()
    weights = tmp_path / "vit_mini_fashion.npz"
    np.savez(weights, **to_torchvision(params))

    pixels = (np.random.default_rng(0).random((40, 30)) * 255).astype(np.uint8)  # any size: resized to 28x28
    image = tmp_path / "item.png"
    Image.fromarray(pixels).save(image)
    assert main(["vit_mini", "--weights", str(weights), "--num-classes", "10", str(image), "--json", "--top", "3",
                 "--saliency", str(tmp_path / "explain")]) == 0
    printed = json.loads(capsys.readouterr().out)[0]
    top = printed["predictions"]
    with Image.open(printed["attention"]) as png:  # the attention rollout of a ViT, beside its saliency map
        assert png.format == "PNG"
    x = prepare(pixels, zoo.model_card("vit_mini"))[None]
    expected = np.asarray(jax.nn.softmax(result.model.apply(result.state.variables, x), -1))[0]
    assert [p["index"] for p in top] == list(np.argsort(-expected, kind="stable")[:3])
    np.testing.assert_allclose([p["probability"] for p in top], expected[[p["index"] for p in top]], atol=1e-5)
