"""A task with two networks: a GAN learning a ring of 8 Gaussians in the plane.

The worked example of the README's "Add a model / add a task": one model registered with `register_model`,
one data set with `register_dataset`, one task with `register_task`, and the shared loop does the rest
(jit over a Mesh or pmap, checkpoints and exact resume, progress, metrics.jsonl, the NaN stop). Importing this
module registers all three; the tests train it on 1 and 8 devices and kill it with -9 mid-run.

The generator and the discriminator are two named networks of one state, each with its own Adam and learning
rate; a step updates the discriminator on real and generated points, then the generator with the
non-saturating loss -log D(G(z)) (Goodfellow et al. 2014).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from train.data import register_dataset
from train.data.sources import ArraySource, Dataset
from train.state import network_state, train_state
from train.steps.reduce import global_sum
from train.steps.rng import SAMPLE_STREAM, step_key
from train.tasks import register_task
from train.tasks.base import Task, build_model
from zoo.layers.examples import float_inputs
from zoo.registry import Reference, register_model

MODES, RADIUS, SPREAD = 8, 2.0, 0.05


def ring_centres() -> np.ndarray:
    angles = 2 * np.pi * np.arange(MODES) / MODES
    return RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # [8, 2]


class MLP(nn.Module):
    hidden: int
    out: int

    @nn.compact
    def __call__(self, x):
        for _ in range(2):
            x = nn.relu(nn.Dense(self.hidden)(x))
        return nn.Dense(self.out)(x)


class MixtureGAN(nn.Module):
    """latents z [B, latent_dim] -> D(G(z)) [B, 1]; `generate` and `discriminate` run one network each."""

    latent_dim: int = 2
    hidden: int = 64

    def setup(self):
        self.generator = MLP(self.hidden, 2)
        self.discriminator = MLP(self.hidden, 1)

    def __call__(self, z, *, train: bool = False):  # touches both networks, so init creates both
        return self.discriminator(self.generator(z))

    def generate(self, z):
        return self.generator(z)

    def discriminate(self, points):
        return self.discriminator(points)


register_model("mixture_gan", MixtureGAN, family="test", task="toy_gan", loss="", default_dataset="gaussian_ring",
               input_spec="float32 latents [B, latent_dim]", example_input_shape=(2,), example=float_inputs,
               reference=Reference("modes_covered", MODES, "gaussian_ring", "the ring has 8 modes"),
               description="A two-network GAN on a ring of 8 Gaussians (the tests' worked example of a task).",
               recipe={"epochs": 10, "batch_size": 128, "lr": 1e-3, "validation_fraction": 0.0})


@register_dataset("gaussian_ring")
def _gaussian_ring(request) -> Dataset:
    rng = np.random.default_rng(0)
    mode = rng.integers(0, MODES, 4096)
    points = ring_centres()[mode] + SPREAD * rng.normal(size=(4096, 2))
    return Dataset("gaussian_ring", {"train": ArraySource(points.astype(np.float32), mode.astype(np.int32))},
                   "samples", MODES, (2,), description="a ring of 8 Gaussians", fixed_splits=True)


def bce(logits, label: float):
    return optax.sigmoid_binary_cross_entropy(logits[:, 0], jnp.full(logits.shape[:1], label))


@register_task("toy_gan")
class ToyGANTask(Task):
    data_kinds = ("samples",)
    networks = ("generator", "discriminator")

    def __init__(self, config, card, dataset, parallel):
        super().__init__(config, card, dataset, parallel)
        self.model = build_model(card, self.dataset, config)
        lr = config.optim.lr
        # Each network its own optimizer: the usual GAN Adam (beta1 0.5), the discriminator at half the rate.
        self.tx = {"generator": optax.adam(lr, b1=0.5), "discriminator": optax.adam(lr / 2, b1=0.5)}

    def init_state(self):
        z = jnp.zeros((1, self.model.latent_dim))
        params = jax.jit(self.model.init)(jax.random.key(self.config.run.seed), z)["params"]
        return jax.device_get(train_state({name: network_state({"params": params[name]}, self.tx[name])
                                           for name in self.networks}, self.config.run.seed))

    def _apply(self, state_or_params: dict[str, Any], x, method: str):
        return self.model.apply({"params": state_or_params}, x, method=method)

    def train_step(self, state, batch, axis_name=None):
        gen, disc = state.network("generator"), state.network("discriminator")
        key = jax.random.fold_in(step_key(state.rng, state.step, axis_name), SAMPLE_STREAM)
        z_disc, z_gen = (jax.random.normal(k, (batch["x"].shape[0], self.model.latent_dim))
                         for k in jax.random.split(key))
        mask = batch["mask"]
        count = global_sum(mask.sum(), axis_name)

        def params(g, d):
            return {"generator": g, "discriminator": d}

        def disc_loss(d):
            fake = jax.lax.stop_gradient(self._apply(params(gen.params, d), z_disc, "generate"))
            real_logits = self._apply(params(gen.params, d), batch["x"], "discriminate")
            fake_logits = self._apply(params(gen.params, d), fake, "discriminate")
            return jnp.sum(mask * (bce(real_logits, 1.0) + bce(fake_logits, 0.0)))

        d_loss, d_grads = jax.value_and_grad(disc_loss)(disc.params)
        d_updates, d_opt = self.tx["discriminator"].update(
            jax.tree.map(lambda g: g / count, global_sum(d_grads, axis_name)), disc.opt_state, disc.params)
        disc = disc.replace(params=optax.apply_updates(disc.params, d_updates), opt_state=d_opt)

        def gen_loss(g):  # non-saturating: push D(G(z)) towards "real"
            return jnp.sum(mask * bce(self._apply(params(g, disc.params), z_gen, "__call__"), 1.0))

        g_loss, g_grads = jax.value_and_grad(gen_loss)(gen.params)
        g_updates, g_opt = self.tx["generator"].update(
            jax.tree.map(lambda g: g / count, global_sum(g_grads, axis_name)), gen.opt_state, gen.params)
        gen = gen.replace(params=optax.apply_updates(gen.params, g_updates), opt_state=g_opt)
        metrics = {"d_loss": global_sum(d_loss, axis_name) / count, "g_loss": global_sum(g_loss, axis_name) / count}
        metrics["loss"] = metrics["d_loss"] + metrics["g_loss"]
        new = state.with_network("generator", gen).with_network("discriminator", disc)
        return new.replace(step=state.step + 1), metrics

    def samples(self, state, count: int = 2000) -> np.ndarray:
        z = jax.random.normal(jax.random.key(self.config.run.seed + 1), (count, self.model.latent_dim))
        return np.asarray(self._apply({name: state.network(name).params for name in self.networks}, z, "generate"))

    def after_training(self, state) -> dict[str, Any]:
        """How many of the 8 modes the generator reaches (a mode counts with 1% of 2,000 samples within 4
        standard deviations), and the share of samples that land near some mode."""
        points = self.samples(state)
        distances = np.linalg.norm(points[:, None] - ring_centres()[None], axis=-1)  # [N, 8]
        near = distances.min(axis=1) < 4 * SPREAD
        nearest = distances.argmin(axis=1)
        covered = sum(int((near & (nearest == m)).sum() >= 0.01 * len(points)) for m in range(MODES))
        return {"modes_covered": covered, "near_a_mode": float(near.mean())}

    def result_model(self):
        return self.model

    @classmethod
    def headline(cls, summary: dict[str, Any]) -> str:
        return (f"{summary['test_modes_covered']} of {MODES} modes covered, "
                f"{summary['test_near_a_mode']:.2f} of the samples near one")

