"""Training the vision family: frozen backbones, backbone learning-rate scale, auxiliary heads,
pretrained starts, and a short end-to-end run with augmentation.

Small models and inputs throughout: a two-stage ResNet-18 (`stage_sizes=(1, 1)`) at 16x16 stands
in for the big backbones; only the step bodies matter here, not the depth.
"""
import re

import flax.linen as nn
import jax
import numpy as np
import optax
import pytest

import zoo
from conftest import FASHION_DIR, SHARED_DATA, quick
from helpers import compile_fast
from rounding import assert_equal_up_to_rounding, tolerance
from train import train_and_evaluate
from train.state import create_train_state, init_variables
from train.losses import softmax_cross_entropy
from train.steps import SupervisedStep
from train.steps.frozen import split_params
from train.transfer import scale_backbone_updates
from zoo.errors import ZooError

HEAD = ("fc",)
RNG = np.random.default_rng(0)
BATCH = {"x": RNG.random((8, 16, 16, 3), np.float32), "y": RNG.integers(0, 3, 8).astype(np.int32),
         "mask": np.ones(8, np.float32)}


def small_resnet():
    return zoo.create("resnet18", num_classes=3, stage_sizes=(1, 1))


def setup(model, tx, trainable=(), variables=None):
    steps = SupervisedStep(model, tx, softmax_cross_entropy, trainable=trainable)
    variables = variables or init_variables(model, BATCH["x"][:1], seed=0)
    return steps, create_train_state(model, tx, BATCH["x"][:1], seed=0, trainable=trainable, variables=variables)


def backbone(variables):
    return {"params": split_params(variables["params"], HEAD)[1],
            **{k: v for k, v in variables.items() if k != "params"}}


def count_convs(fn, *args) -> int:
    return len(re.findall(r"\bconv_general_dilated\b", str(jax.make_jaxpr(fn)(*args))))


def test_frozen_backbone_trains_only_the_head():
    model, tx = small_resnet(), optax.adam(1e-2)
    steps, state = setup(model, tx, trainable=HEAD)
    head_size = sum(x.size for x in jax.tree.leaves(state.params["fc"]))
    # Adam keeps mu and nu for the head only, plus its step count.
    assert sum(np.size(x) for x in jax.tree.leaves(state.opt_state)) == 2 * head_size + 1

    step = jax.jit(steps.train)
    trained, metrics = step(step(state, BATCH)[0], BATCH)
    jax.tree.map(np.testing.assert_array_equal, backbone(state.variables), backbone(trained.variables))
    assert not np.array_equal(state.params["fc"]["kernel"], trained.params["fc"]["kernel"])
    assert int(trained.step) == 2 and np.isfinite(float(metrics["loss"]))


def test_frozen_step_has_no_backward_pass_through_the_backbone():
    model = small_resnet()
    frozen_steps, frozen = setup(model, optax.adam(1e-2), trainable=HEAD)
    full_steps, full = setup(model, optax.adam(1e-2), variables=frozen.variables)
    forward = count_convs(full_steps.eval, full, BATCH)
    assert forward >= 5
    assert count_convs(frozen_steps.train, frozen, BATCH) == forward  # the forward pass and nothing else
    assert count_convs(full_steps.train, full, BATCH) > 2 * forward - 2  # + input and weight gradients


def test_backbone_lr_scale_scales_the_backbone_update_only():
    model, scales = small_resnet(), (0.0, 0.5, 1.0)
    steps = {s: SupervisedStep(model, scale_backbone_updates(optax.sgd(0.1), HEAD, s), softmax_cross_entropy)
             for s in scales}
    _, state = setup(model, scale_backbone_updates(optax.sgd(0.1), HEAD, 1.0))  # SGD: no state to differ

    def one_step_each(state, batch):  # one program: XLA shares the forward and backward passes
        return {s: steps[s].train(state, batch)[0].params for s in scales}

    new = jax.jit(one_step_each)(state, BATCH)
    deltas = {s: jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b), new[s], state.params) for s in scales}
    back = {s: split_params(d, HEAD) for s, d in deltas.items()}  # (head, backbone) per scale
    jax.tree.map(lambda d: np.testing.assert_array_equal(d, 0.0), back[0.0][1])
    assert max(float(np.abs(d).max()) for d in jax.tree.leaves(back[1.0][1])) > 1e-4

    # The three steps need not share their gradient computation, so updates agree up to rounding: relative
    # 1e-4 (about 800 roundings) for the gradient's sums through this small ResNet, plus what each delta
    # (param - update) - param rounds at the parameter's own scale: two roundings each, four for the pair.
    def same_update(a, b, param):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=tolerance(4, float(np.abs(param).max())))

    jax.tree.map(lambda half, one, p: same_update(half, 0.5 * one, p), back[0.5][1], back[1.0][1],
                 split_params(state.params, HEAD)[1])
    for scale in (0.0, 0.5):  # the head moves at the full rate whatever the scale
        jax.tree.map(same_update, back[scale][0], back[1.0][0], split_params(state.params, HEAD)[0])


def test_backbone_lr_scale_zero_in_the_loop_keeps_the_backbone(tmp_path):
    config = quick("cnn_small", dataset="digits", image_size=16, backbone_lr_scale=0.0, epochs=1, batch_size=32,
                   limit_train=128, optimizer="sgd", lr=0.1)
    state = train_and_evaluate(config, tmp_path).state
    start = init_variables(zoo.create("cnn_small", num_classes=10), np.zeros((1, 16, 16, 1), np.float32), seed=0)
    head, body = ("fc3",), lambda p: split_params(p, ("fc3",))[1]
    jax.tree.map(np.testing.assert_array_equal, body(start["params"]), body(state.params))
    assert not np.array_equal(start["params"][head[0]]["kernel"], state.params[head[0]]["kernel"])


def test_transfer_settings_need_a_head(tmp_path):
    with pytest.raises(ZooError, match="names no classifier head"):
        train_and_evaluate(quick("mlp", dataset="digits", freeze_backbone=True, epochs=1), tmp_path)


class TinyAux(nn.Module):
    """Main head on pooled features; an auxiliary head sown in train mode (GoogLeNet's convention)."""

    num_classes: int = 3

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        x = nn.relu(nn.Conv(4, (3, 3), name="conv")(x))
        aux = nn.Dense(self.num_classes, name="aux_fc")(x.reshape(x.shape[0], -1))
        if train:
            self.sow("aux_outputs", "logits", aux)
        return nn.Dense(self.num_classes, name="fc")(x.mean(axis=(1, 2)))


def test_aux_loss_is_added_in_training_only():
    results = {}
    for weight in (0.0, 0.3):
        model = TinyAux()
        state = setup(model, optax.sgd(0.1))[1]
        steps = SupervisedStep(model, optax.sgd(0.1), softmax_cross_entropy, aux_loss_weight=weight)
        new, metrics = jax.jit(steps.train)(state, BATCH)
        results[weight] = (state, new, {k: float(v) for k, v in metrics.items()})
        assert "aux_outputs" not in new.model_state
        main = model.apply(state.variables, BATCH["x"])  # eval reads the main head only
        # Eager against compiled: equal up to rounding (27 conv products, a mean over 14x14, 4 head products).
        assert_equal_up_to_rounding(jax.jit(steps.eval)(state, BATCH)["outputs"], main, terms=27 + 196 + 4)
    (_, new0, m0), (_, new3, m3) = results[0.0], results[0.3]
    assert m0["aux_loss"] == pytest.approx(m3["aux_loss"]) and m3["aux_loss"] > 0
    assert m3["loss"] == pytest.approx(m0["loss"] + 0.3 * m3["aux_loss"], rel=1e-6)
    assert m3["loss"] > m0["loss"]
    np.testing.assert_array_equal(new0.params["aux_fc"]["kernel"], results[0.0][0].params["aux_fc"]["kernel"])
    assert not np.array_equal(new3.params["aux_fc"]["kernel"], results[0.3][0].params["aux_fc"]["kernel"])


def test_googlenet_train_loss_includes_its_aux_heads():
    x = BATCH["x"][:4]
    batch = {"x": x, "y": BATCH["y"][:4], "mask": BATCH["mask"][:4]}
    model = zoo.create("googlenet", num_classes=3)
    tx = optax.sgd(0.1)
    state = create_train_state(model, tx, x[:1], 0, variables=init_variables(model, x[:1], 0))
    # 0.3: the weight GoogLeNet's card declares, which the classification task gives the step.
    assert zoo.model_card("googlenet").aux_loss_weight == 0.3
    steps = {w: SupervisedStep(model, tx, softmax_cross_entropy, aux_loss_weight=w) for w in (0.0, 0.3)}

    def losses(state, batch):  # metrics only: XLA drops the backward pass, so this compiles fast
        return {w: s.train(state, batch)[1] for w, s in steps.items()}

    metrics = compile_fast(losses, state, batch)(state, batch)  # values, not speed: GoogLeNet compiles 3x faster
    main_only, with_aux = ({k: float(v) for k, v in metrics[w].items()} for w in (0.0, 0.3))
    assert main_only["aux_loss"] == pytest.approx(with_aux["aux_loss"]) and with_aux["aux_loss"] > 0.5
    assert with_aux["loss"] == pytest.approx(main_only["loss"] + 0.3 * with_aux["aux_loss"], rel=1e-5)
    assert with_aux["loss"] > main_only["loss"]


def _torch_style(variables) -> dict[str, np.ndarray]:
    """Flax variables -> a torchvision-style state dict (the inverse of zoo.weights' naming rule)."""
    out = {}
    leaf_names = {"scale": "weight", "kernel": "weight", "mean": "running_mean", "var": "running_var"}
    for path, value in jax.tree_util.tree_flatten_with_path(variables)[0]:
        names = [p.key for p in path]
        module = ".".join(re.sub(r"_(\d+)", r".\1", n) for n in names[1:-1])
        value = np.asarray(value)
        if names[-1] == "kernel":
            value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
        out[f"{module}.{leaf_names.get(names[-1], names[-1])}"] = value
    return out


def test_pretrained_frozen_backbone_run_resumes_and_keeps_the_backbone(tmp_path):
    overrides = {"stage_sizes": (1, 1), "small_stem": True}
    donor = zoo.create("resnet18", num_classes=5, **overrides)  # a different head size than digits' 10
    donor_vars = init_variables(donor, np.zeros((1, 16, 16, 3), np.float32), seed=7)
    np.savez(tmp_path / "weights.npz", **_torch_style(donor_vars))
    settings = dict(dataset="digits", model_overrides=overrides, image_size=16,
                    pretrained=str(tmp_path / "weights.npz"), freeze_backbone=True, batch_size=32, limit_train=128,
                    eval_batch_size=256, optimizer="adam", lr=1e-2, schedule="constant")
    train_and_evaluate(quick("resnet18", epochs=1, **settings), tmp_path / "run")
    result = train_and_evaluate(quick("resnet18", epochs=2, resume=True, allow_changed="epochs", **settings),
                                tmp_path / "run")
    state = result.state
    assert result.summary["epochs"] == 2 and int(state.step) == 8
    jax.tree.map(np.testing.assert_array_equal, backbone(donor_vars), backbone(state.variables))
    assert state.params["fc"]["kernel"].shape == (128, 10)  # a fresh head for digits' classes
    # Features of the trained run: the pooled embedding the head reads.
    x = np.random.default_rng(1).random((2, 16, 16, 3), np.float32)
    assert zoo.vision.extract_features(result.model, state.variables, x).shape == (2, 128)


def _image_data():
    if FASHION_DIR.is_dir():
        return {"dataset": "fashion_mnist"}
    if (SHARED_DATA / "mnist").is_dir():
        return {"dataset": "mnist", "data_dir": str(SHARED_DATA)}
    pytest.skip("neither Fashion-MNIST nor the shared MNIST files are installed")


def test_cnn_small_with_augmentation_learns(tmp_path):
    config = quick("cnn_small", **_image_data(), limit_train=2000, epochs=3, batch_size=50, crop_padding=2,
                   flip=True, color_jitter=0.2, validation_fraction=0.02, lr=3e-3, schedule="constant")
    summary = train_and_evaluate(config, tmp_path).summary
    losses = [r["train_loss"] for r in summary["history"]]
    assert losses[-1] < 0.8 * losses[0]
    assert summary["test_accuracy"] > 0.6


def test_cli_flags_reach_the_config():
    from train.cli import build_parser, config_from_args

    args = build_parser().parse_args([
        "resnet18", "--image-size", "64", "--channels", "3", "--normalize", "card", "--crop-padding", "4", "--flip",
        "--color-jitter", "0.3", "--pretrained", "imagenet", "--freeze-backbone", "--backbone-lr-scale", "0.1"])
    image, transfer = (lambda c: (c.image, c.transfer))(config_from_args(args))
    assert (image.image_size, image.channels, image.normalize) == (64, 3, "card")
    assert (image.crop_padding, image.flip, image.color_jitter) == (4, True, 0.3)
    assert (transfer.pretrained, transfer.freeze_backbone, transfer.backbone_lr_scale) == ("imagenet", True, 0.1)
    plain = config_from_args(build_parser().parse_args(["resnet18"]))
    assert (plain.image.crop_padding, plain.image.flip, plain.transfer.pretrained,
            plain.transfer.freeze_backbone) == (0, False, "", False)
