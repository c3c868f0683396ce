"""Optax optimizer and learning-rate schedule built from an `OptimConfig`."""
from __future__ import annotations

import jax
import optax

from train.config import OptimConfig
from zoo.errors import SettingError, UnknownNameError
from zoo.registry import suggest

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "linear")


def _check(kind: str, name: str, known: tuple[str, ...]) -> None:
    if name not in known:
        raise UnknownNameError(f"unknown {kind} {name!r}.{suggest(name, list(known))} Known: {', '.join(known)}")


def make_schedule(cfg: OptimConfig, total_steps: int) -> optax.Schedule:
    _check("schedule", cfg.schedule, SCHEDULES)
    decay_steps = max(total_steps - cfg.warmup_steps, 1)
    if cfg.schedule == "constant":
        main = optax.constant_schedule(cfg.lr)
    elif cfg.schedule == "cosine":
        main = optax.cosine_decay_schedule(cfg.lr, decay_steps)
    elif cfg.schedule == "linear":
        main = optax.linear_schedule(cfg.lr, 0.0, decay_steps)
    else:  # step decay
        if cfg.decay_every <= 0:
            raise SettingError("the 'step' schedule needs decay_every > 0 (--decay-every STEPS)")
        main = optax.exponential_decay(cfg.lr, cfg.decay_every, cfg.decay_factor, staircase=True)
    if cfg.warmup_steps <= 0:
        return main
    warmup = optax.linear_schedule(0.0, cfg.lr, cfg.warmup_steps)
    return optax.join_schedules([warmup, main], [cfg.warmup_steps])


def _decay_mask(params):
    # Decay weight matrices and kernels only: biases and norm scales are not
    # regularised, the convention of the AdamW paper and of timm.
    return jax.tree.map(lambda p: p.ndim > 1, params)


def make_optimizer(cfg: OptimConfig, total_steps: int) -> optax.GradientTransformation:
    _check("optimizer", cfg.name, OPTIMIZERS)
    lr = make_schedule(cfg, total_steps)
    if cfg.name == "sgd":
        core = optax.sgd(lr)
    elif cfg.name in ("momentum", "nesterov"):
        core = optax.sgd(lr, momentum=cfg.momentum, nesterov=cfg.name == "nesterov")
    elif cfg.name == "adam":
        core = optax.adam(lr)
    elif cfg.name == "adamw":
        core = optax.adamw(lr, weight_decay=cfg.weight_decay, mask=_decay_mask)
    else:
        core = optax.rmsprop(lr, momentum=cfg.momentum)
    parts = []
    if cfg.clip_norm > 0:
        parts.append(optax.clip_by_global_norm(cfg.clip_norm))
    if cfg.weight_decay > 0 and cfg.name != "adamw":
        parts.append(optax.add_decayed_weights(cfg.weight_decay, mask=_decay_mask))
    return optax.chain(*parts, core)
