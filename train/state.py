"""TrainState: everything a step reads and writes, as one pytree of arrays.

Unlike flax.training.train_state.TrainState it holds no functions, so Orbax
saves it as-is and pmap/jit can shard or replicate every leaf.
"""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: optimizer steps taken
    params: Any
    opt_state: optax.OptState
    model_state: Any  # mutable collections other than params, e.g. {'batch_stats': ...}
    rng: jax.Array  # base key; step keys are fold_in(rng, step)


def create_train_state(model, tx: optax.GradientTransformation, example_x, seed: int) -> TrainState:
    init_key, dropout_key, base = jax.random.split(jax.random.key(seed), 3)
    variables = model.init({"params": init_key, "dropout": dropout_key}, example_x, train=False)
    params = variables["params"]
    model_state = {k: v for k, v in variables.items() if k != "params"}
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=tx.init(params),
        model_state=model_state,
        rng=jax.random.key_data(base),  # raw uint32 key data: saves and shards like any array
    )
