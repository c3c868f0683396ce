"""Data parallelism: one step body, compiled with jit over a Mesh or with pmap.

Both strategies take *global* host batches (every process builds the same
global batch from the same seed) and place only the rows each process's
devices own, so single-process, multi-device and multi-process runs see the
same data in the same order.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from zoo.errors import SettingError, UnknownNameError

MODES = ("jit", "pmap")


def check_divisible(batch_size: int, num_devices: int, what: str = "batch size") -> None:
    if batch_size % num_devices:
        lower = batch_size - batch_size % num_devices
        raise SettingError(
            f"{what} {batch_size} does not divide across {num_devices} devices; use a multiple of "
            f"{num_devices}, e.g. {lower or num_devices} or {lower + num_devices}"
        )


class MeshParallel:
    """`jax.jit` with NamedSharding: batch split over the 'data' mesh axis, state replicated."""

    mode = "jit"

    def __init__(self, devices=None):
        self.devices = list(devices) if devices is not None else jax.devices()
        self.mesh = Mesh(np.array(self.devices), ("data",))
        self.replicated = NamedSharding(self.mesh, P())
        self.sharded = NamedSharding(self.mesh, P("data"))
        self.num_devices = len(self.devices)

    def model_overrides(self, model) -> dict[str, Any]:
        """Fields a model needs changed to train under this strategy: none, the arrays being global."""
        return {}

    def compile_train(self, body: Callable) -> Callable:
        return jax.jit(body, in_shardings=(self.replicated, self.sharded),
                       out_shardings=(self.replicated, self.replicated), donate_argnums=0)

    def compile_eval(self, body: Callable) -> Callable:
        return jax.jit(body, in_shardings=(self.replicated, self.sharded), out_shardings=self.sharded)

    def _place(self, x: np.ndarray, sharding: NamedSharding) -> jax.Array:
        # The callback is asked only for this process's shards, which is how a
        # multi-process run ends up holding just its own rows.
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    def put_state(self, state):
        return jax.tree.map(lambda x: self._place(x, self.replicated), jax.device_get(state))

    def get_state(self, state):
        return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), state)

    def put_batch(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        check_divisible(len(batch["mask"]), self.num_devices)
        return jax.tree.map(lambda v: self._place(v, self.sharded), batch)  # leaves: arrays, or a GraphsTuple's

    def scalar(self, x) -> float:
        return float(np.asarray(x.addressable_data(0)))

    def gather(self, tree) -> Any:
        if jax.process_count() > 1:
            return multihost_utils.process_allgather(tree, tiled=True)
        return jax.tree.map(np.asarray, tree)


class PmapParallel:
    """`jax.pmap` over this process's devices; the body psums across them (and across processes)."""

    mode = "pmap"
    axis_name = "devices"

    def __init__(self, devices=None):
        # pmap's own default (devices=None) spans every process's devices; an
        # explicit list would confine psum to this process, so pass one only
        # when the caller chose a subset (single-process runs).
        self.pmap_devices = list(devices) if devices is not None else None
        self.devices = self.pmap_devices or jax.local_devices()
        self.local_count = len(self.devices)
        self.num_devices = self.local_count * jax.process_count()
        # pmap takes arrays whose leading axis is split one slice per device.
        self.leading_axis = NamedSharding(Mesh(np.array(self.devices), ("devices",)), P("devices"))

    def model_overrides(self, model) -> dict[str, Any]:
        """Each device holds a slice, so BatchNorm must average its batch statistics across devices to match
        the global batch: models with a `bn_axis_name` field get this strategy's axis."""
        fields = {f.name for f in dataclasses.fields(model)}
        return {"bn_axis_name": self.axis_name} if "bn_axis_name" in fields else {}

    def _pmap(self, body: Callable, **kwargs) -> Callable:
        return jax.pmap(functools.partial(body, axis_name=self.axis_name), axis_name=self.axis_name,
                        devices=self.pmap_devices, **kwargs)

    def compile_train(self, body: Callable) -> Callable:
        return self._pmap(body, donate_argnums=0)

    def compile_eval(self, body: Callable) -> Callable:
        return self._pmap(body)

    def put_state(self, state):
        copies = lambda x: np.broadcast_to(np.asarray(x), (self.local_count, *np.shape(x)))
        return jax.device_put(jax.tree.map(copies, jax.device_get(state)), self.leading_axis)

    def get_state(self, state):
        return jax.tree.map(lambda x: np.asarray(x[0]), state)

    def put_batch(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        size = len(batch["mask"])
        check_divisible(size, self.num_devices)
        rows = size // jax.process_count()
        start = jax.process_index() * rows

        def shard(x):
            local = np.asarray(x)[start:start + rows]
            return jax.device_put(local.reshape(self.local_count, -1, *local.shape[1:]), self.leading_axis)

        return jax.tree.map(shard, batch)

    def scalar(self, x) -> float:
        return float(np.asarray(x[0]))

    def gather(self, tree) -> Any:
        local = jax.tree.map(lambda x: np.asarray(x).reshape(-1, *x.shape[2:]), tree)
        if jax.process_count() > 1:
            return multihost_utils.process_allgather(local, tiled=True)
        return local


def make_parallel(mode: str, devices=None):
    if mode == "jit":
        return MeshParallel(devices)
    if mode == "pmap":
        return PmapParallel(devices)
    raise UnknownNameError(f"unknown parallel mode {mode!r}; choose one of {', '.join(MODES)}")
