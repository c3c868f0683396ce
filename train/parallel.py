"""Data parallelism, and sharded state: one step body, compiled with jit over a Mesh or with pmap.

Both strategies take *global* host batches (every process builds the same
global batch from the same seed) and place only the rows each process's
devices own, so single-process, multi-device and multi-process runs see the
same data in the same order. Under jit the state is replicated by default; a
('data', 'model') mesh or FSDP shards it instead (train.sharding), the batch
still split over 'data'.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import numpy as np
from jax.experimental import mesh_utils, multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from train.sharding import DATA, MODEL, parse_mesh, state_shardings
from zoo.errors import SettingError, UnknownNameError

MODES = ("jit", "pmap")


def check_divisible(batch_size: int, num_devices: int, what: str = "batch size", across: str = "devices") -> None:
    if batch_size % num_devices:
        lower = batch_size - batch_size % num_devices
        raise SettingError(
            f"{what} {batch_size} does not divide across {num_devices} {across}; use a multiple of "
            f"{num_devices}, e.g. {lower or num_devices} or {lower + num_devices}"
        )


class MeshParallel:
    """`jax.jit` with NamedSharding: batch split over the 'data' mesh axis; state replicated (the default), or,
    given a ('data', 'model') `mesh` shape or `fsdp`, sharded by train.sharding's rules (tensor parallel over
    'model', FSDP over 'data'). The compiled steps take and return the state with the shardings it was placed
    with; XLA inserts the collectives."""

    mode = "jit"

    def __init__(self, devices=None, mesh: str | tuple[int, int] | None = None, fsdp: bool = False):
        self.devices = list(devices) if devices is not None else jax.devices()
        self.num_devices = len(self.devices)
        self.fsdp = bool(fsdp)
        self.shards_state = bool(mesh) or self.fsdp
        if self.shards_state:
            data, model = parse_mesh(mesh, self.num_devices) if isinstance(mesh, str) or not mesh else tuple(mesh)
            if data * model != self.num_devices:
                raise SettingError(f"a {data}x{model} mesh needs {data * model} devices, the run has "
                                   f"{self.num_devices}")
            # All devices: the TPU-aware layout (the 'model' axis on neighbouring chips); a chosen subset: its order.
            grid = (mesh_utils.create_device_mesh((data, model), self.devices) if devices is None
                    else np.array(self.devices).reshape(data, model))
            self.mesh = Mesh(grid, (DATA, MODEL))
        else:
            self.mesh = Mesh(np.array(self.devices), (DATA,))
        self.replicated = NamedSharding(self.mesh, P())
        self.sharded = NamedSharding(self.mesh, P(DATA))
        self.batch_shards = self.mesh.shape[DATA]  # the batch splits into this many parts (devices without 'model')

    def model_overrides(self, model) -> dict[str, Any]:
        """Fields a model needs changed to train under this strategy: none, the arrays being global."""
        return {}

    def state_shardings(self, state) -> Any:
        """A NamedSharding per leaf of `state` (arrays or shapes): replicated, or by train.sharding's rules."""
        if not self.shards_state:
            return jax.tree.map(lambda _: self.replicated, state)
        return state_shardings(state, self.mesh, self.fsdp)

    def compile_train(self, body: Callable) -> Callable:
        if not self.shards_state:
            return jax.jit(body, in_shardings=(self.replicated, self.sharded),
                           out_shardings=(self.replicated, self.replicated), donate_argnums=0)
        return self._per_state(lambda state: jax.jit(
            body, in_shardings=(state, self.sharded), out_shardings=(state, self.replicated), donate_argnums=0))

    def compile_eval(self, body: Callable) -> Callable:
        if not self.shards_state:
            return jax.jit(body, in_shardings=(self.replicated, self.sharded), out_shardings=self.sharded)
        return self._per_state(lambda state: jax.jit(body, in_shardings=(state, self.sharded),
                                                     out_shardings=self.sharded))

    def _per_state(self, make: Callable) -> Callable:
        """A step jitted with in/out shardings that follow the state's (`make(state shardings)`), built on the
        first call for each state structure: the shardings depend on the state's paths and shapes."""
        compiled: dict = {}

        def step(state, batch):
            leaves, treedef = jax.tree.flatten(state)
            key = (treedef, tuple(np.shape(x) for x in leaves))
            if key not in compiled:
                compiled[key] = make(self.state_shardings(state))
            return compiled[key](state, batch)

        return step

    def _place(self, x: np.ndarray, sharding: NamedSharding) -> jax.Array:
        # The callback is asked only for this process's shards, which is how a
        # multi-process run ends up holding just its own rows.
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    def put_state(self, state):
        state = jax.device_get(state)
        if not self.shards_state:
            return jax.tree.map(lambda x: self._place(x, self.replicated), state)
        return jax.tree.map(self._place, state, self.state_shardings(state))

    def get_state(self, state):
        if not self.shards_state:
            return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), state)
        return jax.tree.map(_whole, state)

    def put_batch(self, batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        check_divisible(len(batch["mask"]), self.batch_shards, across=self.batch_unit)
        return jax.tree.map(lambda v: self._place(v, self.sharded), batch)  # leaves: arrays, or a GraphsTuple's

    @property
    def batch_unit(self) -> str:
        return "devices" if self.batch_shards == self.num_devices else "data-parallel groups (--mesh DATAxMODEL)"

    def scalar(self, x) -> float:
        return float(np.asarray(x.addressable_data(0)))

    def gather(self, tree) -> Any:
        if jax.process_count() > 1:
            return multihost_utils.process_allgather(tree, tiled=True)
        return jax.tree.map(np.asarray, tree)


def _whole(x: jax.Array) -> np.ndarray:
    """A global array's full value on the host: one copy if replicated; gathered from every process if this one
    holds only some of its shards (a collective: every process calls it, in the same order)."""
    if x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    if x.is_fully_addressable:
        return np.asarray(x)
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


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
        self.batch_shards, self.batch_unit = self.num_devices, "devices"
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


def make_parallel(mode: str, devices=None, mesh: str = "", fsdp: bool = False):
    """The strategy of `mode`; `mesh` ('DATAxMODEL', e.g. '4x2') and `fsdp` shard the state, under jit only."""
    if mode == "jit":
        return MeshParallel(devices, mesh=mesh or None, fsdp=fsdp)
    if mode == "pmap":
        if mesh or fsdp:
            raise SettingError("--mesh and --fsdp shard the state over a device mesh, which --parallel pmap does "
                               "not have (it replicates the state); use --parallel jit, or drop them")
        return PmapParallel(devices)
    raise UnknownNameError(f"unknown parallel mode {mode!r}; choose one of {', '.join(MODES)}")
