import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import zoo
from train.losses import get_loss
from train.optim import OptimConfig, make_optimizer, make_schedule
from train.state import create_train_state
from train.steps import SupervisedStep
from zoo.errors import UnknownNameError
from zoo.layers import predict_classes


def test_perceptron_sgd_step_is_the_perceptron_update_rule():
    """One SGD step (lr=1) on the perceptron loss: w += y*x, b += y on a mistake; nothing otherwise."""
    model = zoo.create("perceptron", num_classes=2)
    tx = optax.sgd(1.0)
    steps = SupervisedStep(model, tx, get_loss("perceptron"))
    x = np.array([[1.0, -2.0, 0.5]], np.float32)
    state = create_train_state(model, tx, x, seed=0)
    w, b = np.asarray(state.params["linear"]["kernel"][:, 0]), float(state.params["linear"]["bias"][0])
    score = float(x[0] @ w + b)
    label = 1 if score < 0 else 0  # pick the label the current weights get wrong
    y_signed = 2 * label - 1
    new_state, _ = steps.train(state, {"x": x, "y": np.array([label]), "mask": np.ones(1, np.float32)})
    np.testing.assert_allclose(new_state.params["linear"]["kernel"][:, 0], w + y_signed * x[0], rtol=1e-6)
    np.testing.assert_allclose(new_state.params["linear"]["bias"][0], b + y_signed, rtol=1e-6)
    # A correctly classified example leaves the weights alone.
    unchanged, _ = steps.train(state, {"x": x, "y": np.array([1 - label]), "mask": np.ones(1, np.float32)})
    np.testing.assert_array_equal(unchanged.params["linear"]["kernel"], state.params["linear"]["kernel"])


def test_binary_and_one_vs_rest_losses():
    scores = jnp.array([[2.0], [-0.5]])
    labels = jnp.array([1, 1])
    np.testing.assert_allclose(get_loss("hinge")(scores, labels), [0.0, 1.5])
    np.testing.assert_allclose(get_loss("perceptron")(scores, labels), [0.0, 0.5])
    np.testing.assert_allclose(get_loss("sigmoid_cross_entropy")(scores, labels),
                               -np.log(1 / (1 + np.exp(-np.array([2.0, -0.5])))), rtol=1e-6)
    ovr = jnp.array([[1.0, -1.0, -1.0]])  # a perfect one-vs-rest margin for class 0
    assert float(get_loss("hinge")(ovr, jnp.array([0]))[0]) == 0.0
    assert float(get_loss("hinge")(ovr, jnp.array([1]))[0]) == 4.0
    np.testing.assert_array_equal(predict_classes(scores), [1, 0])
    np.testing.assert_array_equal(predict_classes(jnp.array([[0.1, 0.7, 0.2]])), [1])
    with pytest.raises(UnknownNameError, match="hinge"):
        get_loss("hing")


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"])
def test_every_optimizer_descends(name):
    params = {"w": jnp.array([[3.0, -2.0]]), "b": jnp.array([1.0])}
    tx = make_optimizer(OptimConfig(name=name, lr=0.05, weight_decay=1e-4, clip_norm=10.0), total_steps=100)
    state = tx.init(params)
    loss = lambda p: jnp.sum(p["w"] ** 2) + jnp.sum(p["b"] ** 2)
    start = float(loss(params))
    for _ in range(50):
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    assert float(loss(params)) < 0.5 * start


def test_schedules():
    warm_cos = make_schedule(OptimConfig(lr=1.0, schedule="cosine", warmup_steps=10), total_steps=110)
    assert float(warm_cos(0)) == 0.0 and float(warm_cos(5)) == pytest.approx(0.5)
    assert float(warm_cos(10)) == pytest.approx(1.0) and float(warm_cos(110)) == pytest.approx(0.0, abs=1e-6)
    step = make_schedule(OptimConfig(lr=1.0, schedule="step", decay_every=10, decay_factor=0.5), total_steps=100)
    assert [float(step(s)) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    assert float(make_schedule(OptimConfig(lr=0.3), 10)(7)) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="decay-every"):
        make_schedule(OptimConfig(schedule="step"), 10)
    with pytest.raises(UnknownNameError, match="cosine"):
        make_schedule(OptimConfig(schedule="cosin"), 10)


def test_gradient_clipping_bounds_the_update():
    tx = make_optimizer(OptimConfig(name="sgd", lr=1.0, clip_norm=1.0), total_steps=1)
    params = {"w": jnp.zeros(4)}
    updates, _ = tx.update({"w": jnp.full(4, 100.0)}, tx.init(params), params)
    assert float(optax.global_norm(updates)) == pytest.approx(1.0, rel=1e-5)


def test_weight_decay_skips_biases():
    tx = make_optimizer(OptimConfig(name="sgd", lr=1.0, weight_decay=0.1), total_steps=1)
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    np.testing.assert_allclose(updates["kernel"], -0.1)
    np.testing.assert_allclose(updates["bias"], 0.0)
    with pytest.raises(UnknownNameError, match="adam"):
        make_optimizer(OptimConfig(name="adamm"), 1)
