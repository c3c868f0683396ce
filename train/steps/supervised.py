"""A network trained on a loss of (outputs, targets): one train-step body and one eval-step body.

The bodies are written against *global* batch semantics: the loss is the weighted mean over the whole
batch. Under `jax.jit` with a data-sharded Mesh the arrays are global and the sums are global already; under
`jax.pmap` each device sees a slice and `axis_name` turns the same sums into cross-device psums
(train.steps.reduce), BatchNorm statistics follow through the model's `bn_axis_name` (train.parallel) and
random draws through row-aware keys (train.steps.rng). So one body gives the same numbers in every mode.

What differs between tasks is supplied as small functions (the strategies below): how the model reads a
batch (`call`: plain, teacher-forced, over graph shards), the input transforms (`inputs`: image resizing and
augmentation), what each loss weighs (`weights`: the example mask, or real target tokens), what counts as
correct, and what the eval step returns (`report`). Three switches remain: `trainable` (a frozen backbone: only
those top-level params are differentiated, and the model runs in inference mode), `aux_loss_weight`
(auxiliary heads' losses, train.steps.aux) and `view` (how stored params become the model's: LoRA adapters
merged into frozen weights, train.steps.lora).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from train.state import TrainState
from train.steps.aux import AUX_COLLECTION, split_aux
from train.steps.batchnorm import sync_model_state
from train.steps.frozen import merge_params, split_params
from train.steps.reduce import global_sum
from train.steps.rng import AUGMENT_STREAM, step_key
from train.steps.shards import over_shards
from zoo.layers import predict_classes

Batch = dict[str, Any]  # 'x', 'y', 'mask': [B] float (0 = padding), or shaped like the losses (graph batches)


# --- how the model reads a batch --------------------------------------------------------------------------------

def plain_call(model: nn.Module, variables, x, y, key, *, axis_name=None, **apply_kwargs):
    """model(x): the targets are not an input."""
    del y, axis_name
    return model.apply(variables, x, rngs={} if key is None else {"dropout": key}, **apply_kwargs)


def teacher_forced_call(model: nn.Module, variables, x, y, key, *, axis_name=None, **apply_kwargs):
    """model(x, targets=y): the decoder reads the targets shifted right (cards with `reads_targets`)."""
    del axis_name
    return model.apply(variables, x, targets=y, rngs={} if key is None else {"dropout": key}, **apply_kwargs)


def sharded_call(model: nn.Module, variables, x, y, key, *, axis_name=None, **apply_kwargs):
    """model(x) on every shard of a stacked graph batch (train.steps.shards), each with its own key."""
    apply = over_shards(lambda v, xi, k, **kw: plain_call(model, v, xi, None, k, **kw))
    return apply(variables, x, key, axis_name=axis_name, **apply_kwargs)


# --- what each loss weighs --------------------------------------------------------------------------------------

def example_weights(losses: jax.Array, batch: Batch) -> jax.Array:
    """The batch mask: per example [B], or already shaped like the losses (per graph, node or pair of shards)."""
    return batch["mask"]


def token_weights(pad_id: int) -> Callable[[jax.Array, Batch], jax.Array]:
    """Per-token losses [B, T] weigh mask * (target != pad_id): the mean is over real target tokens."""

    def weights(losses, batch):
        mask = batch["mask"].reshape(batch["mask"].shape + (1,) * (losses.ndim - 1))
        return mask * (batch["y"] != pad_id)

    return weights


def class_hits(outputs: jax.Array, targets: jax.Array) -> jax.Array:
    """1 where the predicted class is the target (per example or per token)."""
    return predict_classes(outputs) == targets


# --- what the eval step returns ---------------------------------------------------------------------------------

def per_example(outputs, losses, weights, batch, hits) -> dict[str, jax.Array]:
    """Outputs and losses per example (or per graph, node or pair): the host computes the metrics."""
    del weights, batch, hits
    return {"outputs": outputs, "loss": losses}


def per_sequence_sums(outputs, losses, weights, batch, hits) -> dict[str, jax.Array]:
    """Per-token losses summed per example, with their token counts and correct-token counts ([B] each),
    instead of [B, T, V] logits."""
    del outputs, batch
    per_example_sum = lambda v: v.reshape(v.shape[0], -1).sum(-1)  # noqa: E731
    return {"loss": per_example_sum(losses * weights), "weight": per_example_sum(weights),
            "correct": per_example_sum(hits * weights)}


def no_transform(x, key=None):
    return x


@dataclasses.dataclass(frozen=True)
class SupervisedStep:
    model: nn.Module
    tx: optax.GradientTransformation
    loss: Callable[[jax.Array, jax.Array], jax.Array]  # (outputs, targets) -> per-example or per-token losses
    call: Callable = plain_call
    inputs: Callable = no_transform  # (x, key or None) -> model input; the key is only given in training
    weights: Callable = example_weights
    hits: Callable | None = class_hits  # None: no accuracy (regression)
    report: Callable = per_example
    trainable: tuple[str, ...] = ()  # frozen backbone: only these top-level params train (`tx` was built on them)
    aux_loss_weight: float = 0.0
    # Stored params -> what the model applies (LoRA: base + merged adapters, train.steps.lora); None: the same.
    view: Callable | None = None

    def model_params(self, params):
        return params if self.view is None else self.view(params)

    def train(self, state: TrainState, batch: Batch, axis_name: str | None = None):
        net = state.network()
        key = step_key(state.rng, state.step, axis_name)
        x = self.inputs(batch["x"], jax.random.fold_in(key, AUGMENT_STREAM))
        frozen = bool(self.trainable)
        trained, fixed = split_params(net.params, self.trainable) if frozen else (net.params, {})

        def weighted_sum(outputs):
            losses = self.loss(outputs, batch["y"])
            weights = self.weights(losses, batch)
            return (losses * weights).sum(), weights

        def objective(trained_params):
            # Closing over `fixed` (not differentiating it) is what keeps the backward pass out of a frozen backbone.
            params = merge_params(trained_params, fixed) if frozen else trained_params
            variables = {"params": self.model_params(params), **net.model_state}
            if frozen:  # inference mode: running averages, no dropout; model_state untouched
                outputs = self.call(self.model, variables, x, batch["y"], None, axis_name=axis_name, train=False)
                model_state, aux = net.model_state, []
            else:
                outputs, written = self.call(self.model, variables, x, batch["y"], key, axis_name=axis_name,
                                             train=True, mutable=[*net.model_state, AUX_COLLECTION])
                model_state, aux = split_aux(written)
            main, weights = weighted_sum(outputs)
            aux_sum = sum(weighted_sum(a)[0] for a in aux) if aux else None
            total = main if aux_sum is None else main + self.aux_loss_weight * aux_sum
            return total, (outputs, weights, model_state, aux_sum)

        (loss_sum, (outputs, weights, model_state, aux_sum)), grad_sum = jax.value_and_grad(
            objective, has_aux=True)(trained)
        count = global_sum(weights.sum(), axis_name)  # examples, or real target tokens, of the global batch
        grads = jax.tree.map(lambda g: g / count, global_sum(grad_sum, axis_name))
        updates, opt_state = self.tx.update(grads, net.opt_state, trained)
        trained = optax.apply_updates(trained, updates)
        metrics = {"loss": global_sum(loss_sum, axis_name) / count}
        if aux_sum is not None:
            metrics["aux_loss"] = global_sum(aux_sum, axis_name) / count
        if self.hits is not None:
            metrics["accuracy"] = global_sum((self.hits(outputs, batch["y"]) * weights).sum(), axis_name) / count
        net = net.replace(params=merge_params(trained, fixed) if frozen else trained, opt_state=opt_state,
                          model_state=model_state if frozen else sync_model_state(model_state, axis_name))
        return state.with_network("model", net).replace(step=state.step + 1), metrics

    def eval(self, state: TrainState, batch: Batch, axis_name: str | None = None) -> dict[str, jax.Array]:
        """What `report` makes of the main head's outputs in inference mode; the host reduces it to metrics."""
        net = state.network()
        variables = {**net.variables, "params": self.model_params(net.params)}
        outputs = self.call(self.model, variables, self.inputs(batch["x"]), batch["y"], None,
                            axis_name=axis_name, train=False)
        losses = self.loss(outputs, batch["y"])
        weights = self.weights(losses, {**batch, "mask": jnp.ones_like(batch["mask"])})
        hits = self.hits(outputs, batch["y"]) if self.hits is not None else None
        return self.report(outputs, losses, weights, batch, hits)
