"""One step body, three ways to run it: jit over a Mesh, pmap, and several processes.

Each run is a fresh subprocess because the emulated device count (XLA_FLAGS)
and jax.distributed must be fixed before JAX starts.
"""
import socket
import subprocess
import sys

import pytest

from helpers import ROOT, load_npz, max_abs_diff, python_env, run_module

EIGHT_CPUS = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}


def worker(out, mode, *args, timeout=240, **env):
    proc = run_module(["tests.workers.train_and_dump", str(out), mode, *map(str, args)], timeout=timeout, **env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return load_npz(out)


@pytest.fixture(scope="module")
def single_device(tmp_path_factory):
    d = tmp_path_factory.mktemp("single")
    return worker(d / "p.npz", "jit", 1, "--workdir", d / "w", **EIGHT_CPUS)


@pytest.mark.parametrize("mode", ["jit", "pmap"])
def test_eight_devices_match_one(mode, single_device, tmp_path):
    params = worker(tmp_path / "p.npz", mode, 8, "--workdir", tmp_path / "w", **EIGHT_CPUS)
    assert max_abs_diff(params, single_device) <= 1e-5


@pytest.mark.parametrize("model", ["resnet18", "tiny_aux_bn", "char_gru"])
def test_batchnorm_aux_heads_and_token_losses_match_between_jit_and_pmap(model, tmp_path):
    # Under pmap the trainer gives BatchNorm the pmap axis, so its batch statistics are the global
    # batch's, as under jit; the auxiliary loss is psummed like the main one, and per-token losses
    # are divided by the global count of real target tokens.
    runs = {mode: worker(tmp_path / f"{mode}.npz", mode, 8, "--model", model, "--workdir", tmp_path / mode,
                         **EIGHT_CPUS) for mode in ("jit", "pmap")}
    if model == "resnet18":
        assert any(k.startswith("['batch_stats']") for k in runs["jit"])
    assert max_abs_diff(runs["jit"], runs["pmap"]) <= 1e-5


def test_graph_batches_on_eight_devices_match_one_under_jit_and_pmap(tmp_path):
    # Eight shards of 4 graphs each, padded separately, must train exactly like one batch of 32 graphs.
    runs = {(mode, n): worker(tmp_path / f"{mode}{n}.npz", mode, n, "--model", "mpnn", "--workdir",
                              tmp_path / f"{mode}{n}", **EIGHT_CPUS)
            for mode, n in (("jit", 1), ("jit", 8), ("pmap", 8))}
    assert max_abs_diff(runs["jit", 8], runs["jit", 1]) <= 1e-5
    assert max_abs_diff(runs["pmap", 8], runs["jit", 1]) <= 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("mode", ["jit", "pmap"])
def test_two_processes_match_one(mode, single_device, tmp_path):
    coordinator = f"127.0.0.1:{_free_port()}"
    cmd = [sys.executable, "-m", "tests.workers.train_and_dump", str(tmp_path / "p.npz"), mode,
           "--coordinator", coordinator, "--num-processes", "2", "--workdir", str(tmp_path / "w")]
    procs = [subprocess.Popen([*cmd, "--process-id", str(i)], cwd=ROOT, env=python_env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    try:
        outputs = [p.communicate(timeout=240) for p in procs]
    finally:  # a hung or missing peer must not outlive the test
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    assert "devices 2 processes 2" in outputs[0][1]
    assert max_abs_diff(load_npz(tmp_path / "p.npz"), single_device) <= 1e-5


def test_missing_peer_aborts_instead_of_hanging(tmp_path):
    proc = run_module(["tests.workers.train_and_dump", str(tmp_path / "p.npz"), "jit", "--coordinator",
                       f"127.0.0.1:{_free_port()}", "--num-processes", "2", "--process-id", "1",
                       "--init-timeout", "5", "--workdir", str(tmp_path / "w")], timeout=120)
    assert proc.returncode != 0
    assert not (tmp_path / "p.npz").exists()


def test_indivisible_batch_is_explained():
    code = ("import jax; from train.parallel import make_parallel; import numpy as np\n"
            "p = make_parallel('jit')\n"
            "try:\n p.put_batch({'x': np.zeros((10, 2)), 'mask': np.ones(10)})\n"
            "except ValueError as e: print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=python_env(**EIGHT_CPUS), capture_output=True,
                          text=True, timeout=120)
    assert "batch size 10 does not divide across 8 devices; use a multiple of 8, e.g. 8 or 16" in proc.stdout
