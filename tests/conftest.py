import os
from pathlib import Path

import pytest

# Tests never download: a missing data set must fail fast with its message.
os.environ["ZOO_OFFLINE"] = "1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

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
