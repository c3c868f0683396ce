"""Classification and regression: one train-step body and one eval-step body.

The bodies are written against *global* batch semantics: the loss is the
masked mean over the whole batch. Under `jax.jit` with a data-sharded Mesh
the arrays are global and the sums below are global already; under
`jax.pmap` each device sees a slice, and `axis_name` turns the same sums
into cross-device psums. So one body gives the same numbers in every mode.
(BatchNorm statistics follow the same rule through the model's
`bn_axis_name`, which the loop sets under pmap.)

Vision extras, all inside the same bodies:
* image inputs: resize / grey->RGB / normalise (train and eval) and seeded
  augmentation (train only), see `train.augment`;
* auxiliary heads: logits a model sows into the `aux_outputs` collection in
  train mode add `model.aux_loss_weight * sum(loss(aux_i))` to the training
  loss (GoogLeNet); they are never stored and eval reads the main head only;
* frozen backbone: with `trainable` (the head's top-level param names) only
  those params are differentiated and updated, and the model runs in
  inference mode, see `train.transfer`.

Sequence outputs use the same bodies. When the loss is per token ([B, T],
language models and seq2seq) each token weighs `mask * (target != <pad>)`,
so the loss is the mean over real target tokens of the global batch, and the
eval step returns per-example sums and token counts instead of outputs.
Seq2seq models (`teacher_forced = True`) are called as `model(x, targets=y)`.

Graph batches (`sharded_inputs=True`) stack D padded GraphsTuples along a leading axis, with targets and
masks [D, ...] shaped like the losses; the model runs once per shard (train.steps.shards) and the same
masked sums apply, the mask hiding padding graphs, nodes and pairs.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from train.augment import Augmentation, ImageInputs, augment, normalize, shape_images
from train.losses import REGRESSION_LOSSES, get_loss
from train.state import TrainState
from train.steps.shards import over_shards
from train.transfer import merge_params, split_params
from zoo.layers import predict_classes

Batch = dict[str, jax.Array]  # 'x' [B, ...], 'y' [B] or [B, T], 'mask' [B] float (0 = padding)

PAD_ID = 0  # token targets equal to this are padding (zoo.text's <pad>)

AUX_COLLECTION = "aux_outputs"
_AUGMENT_STREAM = 1  # fold_in(step key, 1): augmentation draws, separate from dropout's


def _all_sum(axis_name: str | None) -> Callable:
    if axis_name is None:
        return lambda tree: tree
    return lambda tree: jax.lax.psum(tree, axis_name)


def loss_weights(losses: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """Weights shaped like `losses`: the example mask, times `target != <pad>` for per-token losses.

    A mask already shaped like the losses (graph batches: per graph, node or pair) is the weight itself."""
    if losses.ndim == 1 or mask.shape == losses.shape:
        return mask
    return mask.reshape(mask.shape + (1,) * (losses.ndim - 1)) * (targets != PAD_ID)


def l2_penalty(params) -> jax.Array:
    """0.5 * sum of squared weight matrices; biases are not penalised (SVM convention)."""
    return 0.5 * sum(jnp.sum(p.astype(jnp.float32) ** 2) for p in jax.tree.leaves(params) if p.ndim > 1)


@dataclasses.dataclass(frozen=True)
class SupervisedSteps:
    train: Callable[..., tuple[TrainState, dict[str, jax.Array]]]
    eval: Callable[..., dict[str, jax.Array]]
    regression: bool
    prepare: Callable[[jax.Array], jax.Array] = lambda x: x  # the eval-time input transform (for model.init)


def make_supervised_steps(model, tx: optax.GradientTransformation, loss: str, l2: float = 0.0, *,
                          inputs: ImageInputs = ImageInputs(), augmentation: Augmentation = Augmentation(),
                          trainable: tuple[str, ...] = (), sharded_inputs: bool = False) -> SupervisedSteps:
    """`trainable`: if given, only these top-level params train (frozen backbone; `tx` was
    initialised on just them) and the model runs in inference mode. `sharded_inputs`: batches are
    stacked shards of graphs (see the module docstring)."""
    loss_fn = get_loss(loss)
    regression = loss in REGRESSION_LOSSES
    aux_weight = float(getattr(model, "aux_loss_weight", 1.0))
    frozen = bool(trainable)
    teacher_forced = bool(getattr(model, "teacher_forced", False))

    def targets_kwarg(y):  # seq2seq decoders read the targets shifted right (teacher forcing)
        return {"targets": y} if teacher_forced else {}

    def apply(variables, x, key, **kwargs):
        return model.apply(variables, x, rngs={} if key is None else {"dropout": key}, **kwargs)

    if sharded_inputs:
        apply = over_shards(apply)

    def prepare(x, key=None):
        if sharded_inputs:  # graphs: no image transforms
            return x
        x = shape_images(x, inputs)
        if key is not None and augmentation.active:
            x = augment(key, x, augmentation)
        return normalize(x, inputs)

    def forward(state: TrainState, params, x, y, key):
        """Training forward pass: (outputs, new model_state, [aux logits])."""
        variables = {"params": params, **state.model_state}
        if frozen:  # inference mode: running averages, no dropout; model_state untouched
            return apply(variables, x, None, train=False, **targets_kwarg(y)), state.model_state, []
        outputs, written = apply(variables, x, key, train=True, mutable=[*state.model_state, AUX_COLLECTION],
                                 **targets_kwarg(y))
        model_state = {k: v for k, v in written.items() if k != AUX_COLLECTION}
        return outputs, model_state, jax.tree.leaves(written.get(AUX_COLLECTION, {}))

    def train_step(state: TrainState, batch: Batch, axis_name: str | None = None):
        total = _all_sum(axis_name)
        mask = batch["mask"]
        key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
        if axis_name is not None:  # different dropout masks and crops on each device's slice
            key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))
        x = prepare(batch["x"], jax.random.fold_in(key, _AUGMENT_STREAM))
        trained, fixed = split_params(state.params, trainable) if frozen else (state.params, {})

        def masked_sum(outputs):
            losses = loss_fn(outputs, batch["y"])
            weights = loss_weights(losses, batch["y"], mask)
            return (losses * weights).sum(), weights

        def summed_loss(trained_params):
            # Closing over `fixed` (not differentiating it) is what keeps the backward pass
            # out of a frozen backbone.
            params = merge_params(trained_params, fixed) if frozen else trained_params
            outputs, model_state, aux = forward(state, params, x, batch["y"], key)
            main, weights = masked_sum(outputs)
            aux_sum = sum(masked_sum(a)[0] for a in aux) if aux else None
            objective = main if aux_sum is None else main + aux_weight * aux_sum
            return objective, (outputs, weights, model_state, aux_sum)

        (loss_sum, (outputs, weights, model_state, aux_sum)), grad_sum = jax.value_and_grad(
            summed_loss, has_aux=True)(trained)
        count = total(weights.sum())  # examples, or real target tokens
        grads = jax.tree.map(lambda g: g / count, total(grad_sum))
        if l2:
            grads = jax.tree.map(jnp.add, grads, jax.grad(lambda p: l2 * l2_penalty(p))(trained))
        updates, opt_state = tx.update(grads, state.opt_state, trained)
        trained = optax.apply_updates(trained, updates)
        if axis_name is not None and model_state and not frozen:  # e.g. BatchNorm running averages
            model_state = jax.lax.pmean(model_state, axis_name)
        metrics = {"loss": total(loss_sum) / count}
        if aux_sum is not None:
            metrics["aux_loss"] = total(aux_sum) / count
        if not regression:
            correct = ((predict_classes(outputs) == batch["y"]) * weights).sum()
            metrics["accuracy"] = total(correct) / count
        new_state = state.replace(
            step=state.step + 1,
            params=merge_params(trained, fixed) if frozen else trained,
            opt_state=opt_state,
            model_state=model_state,
        )
        return new_state, metrics

    def eval_step(state: TrainState, batch: Batch, axis_name: str | None = None) -> dict[str, Any]:
        """Per-example outputs and losses of the main head; the host reduces them into metrics.

        Per-token losses come back as per-example sums with their token counts ('weight') and
        correct-token counts, not as [B, T, V] outputs."""
        del axis_name
        y = batch["y"]
        outputs = apply(state.variables, prepare(batch["x"]), None, train=False, **targets_kwarg(y))
        losses = loss_fn(outputs, y)
        if losses.ndim == 1 or sharded_inputs:  # per example, or per graph / node / pair of each shard
            return {"outputs": outputs, "loss": losses}
        weights = loss_weights(losses, y, jnp.ones(losses.shape[:1], losses.dtype))
        per_example = lambda v: v.reshape(v.shape[0], -1).sum(-1)  # noqa: E731
        correct = (predict_classes(outputs) == y) * weights
        return {"loss": per_example(losses * weights), "weight": per_example(weights), "correct": per_example(correct)}

    return SupervisedSteps(train=train_step, eval=eval_step, regression=regression, prepare=prepare)
