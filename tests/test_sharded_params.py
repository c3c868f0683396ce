"""Sharded state under jit (train.sharding, `--mesh DATAxMODEL --fsdp`): tensor parallel over 'model', FSDP over
'data', only sharding annotations. A tiny GPT trains to the same parameters as on one device, and every device
holds its slice of each large kernel and of its optimizer state, not a copy."""
import json

import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from helpers import load_npz, made_once, max_abs_diff, run_module
from train.sharding import partition_spec, parse_mesh
from zoo.errors import SettingError

# XLA's lowest optimisation level: faster compiles of the same values (tests/helpers.py's FAST_COMPILE), for all
# runs alike, the one-device reference included.
EIGHT_CPUS = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0 "
                           "--xla_llvm_disable_expensive_passes=true"}
MESHES = ("8x1", "4x2", "2x4")
# Eight devices add each gradient up from partial sums in another order than one (tests/test_parallel.py), and
# the split kernels add their matmuls' partial products in another order too: float32 rounding over 3 steps.
SAME_UP_TO_ROUNDING = 1e-5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{layout: (final params and optimizer state, {key path: shape, spec, shard shapes} or None)}."""
    def train(out):
        proc = run_module(["tests.workers.train_sharded", str(out), "1", *MESHES], timeout=400, **EIGHT_CPUS)
        assert proc.returncode == 0, proc.stderr[-3000:]

    folder = made_once(tmp_path_factory, "sharded-gpt-runs", train)
    return {layout: (load_npz(folder / f"{layout}.npz"),
                     json.loads((folder / f"{layout}.json").read_text()) if layout != "1" else None)
            for layout in ("1", *MESHES)}


@pytest.mark.parametrize("mesh", MESHES)
def test_sharded_gpt_trains_like_one_device(mesh, runs):
    assert max_abs_diff(runs[mesh][0], runs["1"][0]) <= SAME_UP_TO_ROUNDING


# The worker's GPT: width 32, MLP 128, fused qkv [32, 96], vocabulary 68 (64 characters and the codec's 4).
# Each device's shard of a kernel, per mesh (DATA x MODEL): 'model' splits qkv/up on their outputs and out/down
# on their inputs, the table on the vocabulary; FSDP then splits the largest dimension left over 'data'.
KERNELS = ("['attention']['qkv']['kernel']", "['attention']['out']['kernel']", "['mlp']['up']['kernel']",
           "['mlp']['down']['kernel']")
SHARD_SHAPES = {  # mesh -> (shards of KERNELS in order, shard of the token table)
    "8x1": ([(32, 12), (4, 32), (32, 16), (16, 32)], (68, 4)),
    "4x2": ([(8, 48), (16, 8), (8, 64), (64, 8)], (34, 8)),
    "2x4": ([(16, 24), (8, 16), (16, 32), (32, 16)], (17, 16)),
}


@pytest.mark.parametrize("mesh", MESHES)
def test_each_device_holds_its_slice_of_kernels_and_optimizer_state(mesh, runs):
    shards = runs[mesh][1]
    data, model = parse_mesh(mesh, 8)
    kernel_shards, table_shard = SHARD_SHAPES[mesh]
    expected = {f"['{block}']{kernel}": shape for block in ("h_0", "h_1")
                for kernel, shape in zip(KERNELS, kernel_shards)}
    expected["['wte']['embedding']"] = table_shard
    for leaf, shard_shape in expected.items():
        for where in (".params", ".opt_state[0][0].trace"):  # momentum's trace: the parameter's own layout
            entry = shards[f"['model']{where}{leaf}"]
            assert len(entry["shards"]) == 8
            assert all(tuple(s) == shard_shape for s in entry["shards"]), (mesh, leaf, entry)
            # One eighth each: the kernel is split over both axes, nothing is duplicated.
            assert np.prod(shard_shape) * data * model == np.prod(entry["shape"])
    # Small leaves (norms, row-parallel biases) stay whole on every device.
    norm = shards["['model'].params['h_0']['mlp_norm']['scale']"]
    assert norm["spec"] == [] and all(s == [32] for s in norm["shards"])


def test_partition_rules():
    sizes = {"data": 4, "model": 2}

    def spec(path, shape, fsdp=True, sizes=sizes):
        from jax.tree_util import DictKey

        return partition_spec([DictKey(n) for n in path.split("/")], shape, sizes, fsdp)

    # Llama's names: separate q/k/v, SwiGLU gate/up/down, no biases.
    assert spec("layers_0/attention/query/kernel", (64, 64)) == P("data", "model")
    assert spec("layers_0/attention/key/kernel", (64, 32)) == P("data", "model")
    assert spec("layers_0/attention/out/kernel", (64, 64)) == P("model", "data")
    assert spec("layers_0/mlp/gate/kernel", (64, 172)) == P("data", "model")
    assert spec("layers_0/mlp/down/kernel", (172, 64), fsdp=False) == P("model")
    assert spec("layers_0/cross_attention/value/bias", (64,), fsdp=False) == P("model")
    assert spec("layers_0/attention/out/bias", (64,)) == P()
    # GPT-2's odd vocabulary splits the width instead; FSDP then takes the rows only if they divide.
    assert spec("wte/embedding", (50257, 768)) == P(None, "model")
    assert spec("wte/embedding", (50256, 768)) == P("model", "data")
    # Small, indivisible, or without a mesh axis: whole.
    assert spec("ln_f/scale", (768,)) == P()
    assert spec("lm_head/kernel", (33, 31)) == P()
    assert spec("lm_head/kernel", (64, 64), fsdp=False) == P()
    assert spec("h_0/attention/qkv/kernel", (64, 192), fsdp=True, sizes={"data": 8}) == P(None, "data")


def test_mesh_settings_are_checked():
    assert parse_mesh("", 8) == (8, 1) and parse_mesh("2x4", 8) == (2, 4)
    with pytest.raises(SettingError, match="DATAxMODEL"):
        parse_mesh("4*2", 8)
    with pytest.raises(SettingError, match="needs 6 devices but the run has 8"):
        parse_mesh("3x2", 8)
    from train.parallel import make_parallel

    with pytest.raises(SettingError, match="--parallel jit"):
        make_parallel("pmap", mesh="1x1")
