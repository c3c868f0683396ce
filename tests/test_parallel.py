"""One step body, three ways to run it: jit over a Mesh, pmap, and several processes.

Runs happen in fresh subprocesses because the emulated device count (XLA_FLAGS) and jax.distributed must be
fixed before JAX starts; the runs a test compares share one process where they can (JAX starts once).
"""
import socket
import subprocess
import sys

import pytest

from helpers import ROOT, load_npz, made_once, max_abs_diff, python_env, run_module
from rounding import assert_equal_up_to_rounding

EIGHT_CPUS = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
# Eight devices (or two processes) add each gradient up as eight (two) partial sums instead of one: the same
# maths in another order, so the trained parameters, of order 0.1 to 1, agree up to float32 rounding carried
# through the run's steps. 1e-5 is about 80 roundings (eps = 1.19e-7) at 1, and far below what one wrongly
# scaled gradient, a missed psum or another dropout mask changes. Runs that must be bitwise equal (resume, the
# same seed twice) are tested elsewhere with exact equality.
SAME_UP_TO_ROUNDING = 1e-5


def train(out_dir, *runs, model="mlp", timeout=400, **env) -> None:
    """Train `runs` (e.g. "jit:1", "resnet18/pmap:8") one after another in one fresh process."""
    proc = run_module(["tests.workers.train_and_dump", str(out_dir), *runs, "--model", model], timeout=timeout,
                      **env)
    assert proc.returncode == 0, proc.stderr[-3000:]


def params_of(out_dir, *runs) -> dict:
    """{run: its final params and model state}, as the worker wrote them."""
    return {run: load_npz(out_dir / f"{run.replace('/', '-').replace(':', '-')}.npz") for run in runs}


def worker(out_dir, *runs, **kwargs) -> dict:
    train(out_dir, *runs, **kwargs)
    return params_of(out_dir, *runs)


@pytest.fixture(scope="module")
def mlp_runs(tmp_path_factory):
    runs = ("jit:1", "jit:8", "pmap:8")
    folder = made_once(tmp_path_factory, "mlp-runs", lambda out: train(out, *runs, **EIGHT_CPUS))
    return params_of(folder, *runs)


@pytest.mark.parametrize("mode", ["jit", "pmap"])
def test_eight_devices_match_one(mode, mlp_runs):
    assert max_abs_diff(mlp_runs[f"{mode}:8"], mlp_runs["jit:1"]) <= SAME_UP_TO_ROUNDING


JIT_PMAP_MODELS = ("resnet18", "tiny_aux_bn", "char_gru", "transformer_seq2seq")
RESNET_GRADIENT_TERMS = 128 * 16 * 16  # the worker's resnet18: global batch 128 of 16x16 images


@pytest.fixture(scope="module")
def jit_and_pmap_runs(tmp_path_factory):
    """Each model trained under jit and under pmap on 8 devices, all in one process (JAX starts once), once per
    test run."""
    names = [f"{model}/{mode}:8" for model in JIT_PMAP_MODELS for mode in ("jit", "pmap")]
    runs = params_of(made_once(tmp_path_factory, "jit-and-pmap-runs", lambda out: train(out, *names, **EIGHT_CPUS)),
                     *names)
    return {model: {mode: runs[f"{model}/{mode}:8"] for mode in ("jit", "pmap")} for model in JIT_PMAP_MODELS}


@pytest.mark.parametrize("model", JIT_PMAP_MODELS)
def test_batchnorm_aux_heads_and_token_losses_match_between_jit_and_pmap(model, jit_and_pmap_runs):
    # Under pmap the trainer gives BatchNorm the pmap axis, so its batch statistics are the global
    # batch's, as under jit; the auxiliary loss is psummed like the main one, and per-token losses
    # are divided by the global count of real target tokens.
    runs = jit_and_pmap_runs[model]
    if model == "resnet18":
        assert any("['batch_stats']" in k for k in runs["jit"])
        # The optimizer's moments hold raw gradients, not rate-scaled updates: the stem's kernel gradient sums
        # over every pixel of the global batch through BatchNorm's backward pass, and reaches 0.27; it is
        # compared up to those roundings (measured 4.6e-5), the parameters and statistics as tightly as the rest.
        moments = [k for k in runs["jit"] if ".opt_state" in k]
        for key in moments:
            assert_equal_up_to_rounding(runs["pmap"][key], runs["jit"][key], terms=RESNET_GRADIENT_TERMS)
        runs = {mode: {k: v for k, v in run.items() if k not in moments} for mode, run in runs.items()}
    assert max_abs_diff(runs["jit"], runs["pmap"]) <= SAME_UP_TO_ROUNDING


RANDOM_DRAWS = ("mlp_dropout", "cnn_small_augmented", "mixture_gan")


@pytest.fixture(scope="module")
def random_draw_runs(tmp_path_factory):
    """Runs whose steps draw random numbers (dropout, crops and flips, a generator's noise) on 1 device under
    jit, and on 8 under jit and under pmap."""
    names = [f"{name}/{layout}" for name in RANDOM_DRAWS for layout in ("jit:1", "jit:8", "pmap:8")]
    return params_of(made_once(tmp_path_factory, "random-draw-runs", lambda out: train(out, *names, **EIGHT_CPUS)),
                     *names)


@pytest.mark.parametrize("name", RANDOM_DRAWS)
def test_random_draws_are_the_same_on_every_device_layout(name, random_draw_runs):
    # pmap used to give each device its own key (test loss 0.4964 instead of 0.5061 for mlp on digits): now each
    # device draws its rows of the global batch's draws, and two networks with their own optimizers (the GAN)
    # train the same way too.
    one = random_draw_runs[f"{name}/jit:1"]
    assert max_abs_diff(random_draw_runs[f"{name}/jit:8"], one) <= SAME_UP_TO_ROUNDING
    assert max_abs_diff(random_draw_runs[f"{name}/pmap:8"], one) <= SAME_UP_TO_ROUNDING
    if name == "mixture_gan":
        assert {k.split("]")[0] for k in one} == {"['discriminator'", "['generator'"}


def test_graph_batches_on_eight_devices_match_one_under_jit_and_pmap(tmp_path):
    # Eight shards of 4 graphs each, padded separately, must train exactly like one batch of 32 graphs.
    runs = worker(tmp_path, "jit:1", "jit:8", "pmap:8", model="mpnn", **EIGHT_CPUS)
    assert max_abs_diff(runs["jit:8"], runs["jit:1"]) <= SAME_UP_TO_ROUNDING
    assert max_abs_diff(runs["pmap:8"], runs["jit:1"]) <= SAME_UP_TO_ROUNDING


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("mode", ["jit", "pmap"])
def test_two_processes_match_one(mode, mlp_runs, tmp_path):
    coordinator = f"127.0.0.1:{_free_port()}"
    cmd = [sys.executable, "-m", "tests.workers.train_and_dump", str(tmp_path), mode,
           "--coordinator", coordinator, "--num-processes", "2"]
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
    assert max_abs_diff(load_npz(tmp_path / f"{mode}.npz"), mlp_runs["jit:1"]) <= SAME_UP_TO_ROUNDING


def test_missing_peer_ends_with_a_message_instead_of_hanging(tmp_path):
    # JAX's own deadline aborts the process from C++ (SIGABRT, a C++ stack); zoo's watchdog must end it first.
    coordinator = f"127.0.0.1:{_free_port()}"
    proc = run_module(["tests.workers.train_and_dump", str(tmp_path), "jit", "--coordinator", coordinator,
                       "--num-processes", "2", "--process-id", "1", "--init-timeout", "5"], timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"waiting for 2 processes at {coordinator} (0s of 5s; this is process 1)" in proc.stderr
    assert f"error: not all 2 processes joined at {coordinator} within 5s" in proc.stderr
    assert "--init-timeout" in proc.stderr and "--process-id from 0 to 1" in proc.stderr
    assert "Check failure" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "jit.npz").exists()


def test_indivisible_batch_is_explained():
    code = ("import jax; from train.parallel import make_parallel; import numpy as np\n"
            "p = make_parallel('jit')\n"
            "try:\n p.put_batch({'x': np.zeros((10, 2)), 'mask': np.ones(10)})\n"
            "except ValueError as e: print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=python_env(**EIGHT_CPUS), capture_output=True,
                          text=True, timeout=120)
    assert "batch size 10 does not divide across 8 devices; use a multiple of 8, e.g. 8 or 16" in proc.stdout
