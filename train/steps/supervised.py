"""Classification and regression: one train-step body and one eval-step body.

The bodies are written against *global* batch semantics: the loss is the
masked mean over the whole batch. Under `jax.jit` with a data-sharded Mesh
the arrays are global and the sums below are global already; under
`jax.pmap` each device sees a slice, and `axis_name` turns the same sums
into cross-device psums. So one body gives the same numbers in every mode.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from train.losses import REGRESSION_LOSSES, get_loss
from train.state import TrainState
from zoo.layers import predict_classes

Batch = dict[str, jax.Array]  # 'x' [B, ...], 'y' [B] or [B, T], 'mask' [B] float (0 = padding)


def _all_sum(axis_name: str | None) -> Callable:
    if axis_name is None:
        return lambda tree: tree
    return lambda tree: jax.lax.psum(tree, axis_name)


def l2_penalty(params) -> jax.Array:
    """0.5 * sum of squared weight matrices; biases are not penalised (SVM convention)."""
    return 0.5 * sum(jnp.sum(p.astype(jnp.float32) ** 2) for p in jax.tree.leaves(params) if p.ndim > 1)


@dataclasses.dataclass(frozen=True)
class SupervisedSteps:
    train: Callable[..., tuple[TrainState, dict[str, jax.Array]]]
    eval: Callable[..., dict[str, jax.Array]]
    regression: bool


def make_supervised_steps(model, tx: optax.GradientTransformation, loss: str, l2: float = 0.0) -> SupervisedSteps:
    loss_fn = get_loss(loss)
    regression = loss in REGRESSION_LOSSES

    def apply(state: TrainState, params, x, *, train: bool, key=None):
        variables = {"params": params, **state.model_state}
        mutable = list(state.model_state) if train else False
        out = model.apply(variables, x, train=train, rngs={"dropout": key} if train else None, mutable=mutable)
        return out if train else (out, state.model_state)

    def train_step(state: TrainState, batch: Batch, axis_name: str | None = None):
        total = _all_sum(axis_name)
        mask = batch["mask"]
        count = total(mask.sum())
        key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
        if axis_name is not None:  # a different dropout mask on each device's slice
            key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))

        def summed_loss(params):
            outputs, model_state = apply(state, params, batch["x"], train=True, key=key)
            return (loss_fn(outputs, batch["y"]) * mask).sum(), (outputs, model_state)

        (loss_sum, (outputs, model_state)), grad_sum = jax.value_and_grad(summed_loss, has_aux=True)(state.params)
        grads = jax.tree.map(lambda g: g / count, total(grad_sum))
        if l2:
            grads = jax.tree.map(jnp.add, grads, jax.grad(lambda p: l2 * l2_penalty(p))(state.params))
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        if axis_name is not None and model_state:  # e.g. BatchNorm running averages
            model_state = jax.lax.pmean(model_state, axis_name)
        metrics = {"loss": total(loss_sum) / count}
        if not regression:
            correct = ((predict_classes(outputs) == batch["y"]) * mask).sum()
            metrics["accuracy"] = total(correct) / count
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            opt_state=opt_state,
            model_state=model_state,
        )
        return new_state, metrics

    def eval_step(state: TrainState, batch: Batch, axis_name: str | None = None) -> dict[str, Any]:
        """Per-example outputs and losses; the host reduces them into metrics."""
        del axis_name
        outputs, _ = apply(state, state.params, batch["x"], train=False)
        return {"outputs": outputs, "loss": loss_fn(outputs, batch["y"])}

    return SupervisedSteps(train=train_step, eval=eval_step, regression=regression)
