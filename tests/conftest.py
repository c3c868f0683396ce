import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Tests never download: a missing data set must fail fast with its message.
os.environ["ZOO_OFFLINE"] = "1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")


def pytest_configure(config):
    """One JAX compilation cache for the whole run: its xdist workers, the subprocesses and notebook kernels
    they start. Many tests compile the same program (the same model's step on the same shapes) from fresh
    closures, which JAX's in-memory cache cannot see; XLA compiling is most of this suite's time on a CPU.
    The folder starts empty every run, so nothing carries over between runs, and is removed at the end.
    Set by the controller before it starts the workers, which inherit the environment."""
    if "PYTEST_XDIST_WORKER" in os.environ or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    folder = tempfile.mkdtemp(prefix="zoo-tests-jax-cache-")
    config.stash[_CACHE_KEY] = folder
    os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # small programs too: there are many
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"


def pytest_unconfigure(config):
    folder = config.stash.get(_CACHE_KEY, None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


_CACHE_KEY = pytest.StashKey[str]()

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA} (the project's shared data folder)")
    return SHARED_DATA


@pytest.fixture
def fashion_dir() -> Path:
    if not FASHION_DIR.is_dir():
        pytest.skip(f"Fashion-MNIST not installed at {FASHION_DIR}: apt-get install dataset-fashion-mnist")
    return FASHION_DIR


def quick(model: str, **settings):
    """A small, quiet run configuration for tests."""
    from train import config_for

    settings = {"progress": False, "plots": False, **settings}
    return config_for(model, **settings)
