"""LoRA through the training loop (`--lora R`): only the adapters train and have optimizer state, the frozen
weights stay bitwise, the result applies merged, the workdir's adapters reload on their own, and zoo-generate
samples from the run. A tiny GPT on HAMLET; the SmolLM2 fine-tune's figures are benchmarks/lora_smollm2.py's."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from conftest import quick
from helpers import HAMLET

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "max_positions": 32}
TARGETS = "attention/qkv,mlp/down"


def _config(corpus, **settings):
    return quick("gpt_nano", dataset=f"text:{corpus}", epochs=1, batch_size=8, seq_len=16, min_freq=1,
                 model_overrides=TINY, lr=1e-2, **settings)


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    from train import train_and_evaluate
    from train.tasks.registry import task_for
    from train.data.registry import load_for_run
    from train.parallel import make_parallel
    import zoo

    root = tmp_path_factory.mktemp("lora")
    corpus = root / "corpus.txt"
    corpus.write_text(HAMLET)
    config = _config(corpus, lora_rank=4, lora_alpha=8.0, lora_targets=TARGETS)
    task = task_for("language_model")(config, zoo.model_card("gpt_nano"), load_for_run(config), make_parallel("jit"))
    initial = task.init_state()
    result = train_and_evaluate(config, root / "run")
    return {"root": root, "corpus": corpus, "config": config, "initial": initial, "result": result}


def _leaves_size(tree) -> int:
    return sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(tree))


def test_only_adapters_get_optimizer_state_and_change(lora_run):
    from flax import traverse_util

    from train.steps.lora import LORA_KEY, split_adapters

    initial_params = lora_run["initial"].network().params
    base, adapters = split_adapters(initial_params)
    assert sorted(adapters) == ["h_0/attention/qkv", "h_0/mlp/down", "h_1/attention/qkv", "h_1/mlp/down"]
    assert adapters["h_0/attention/qkv"]["a"].shape == (32, 4) and adapters["h_0/attention/qkv"]["b"].shape == (4, 96)
    adapter_floats = _leaves_size(adapters)
    # Adam's two moments per adapter parameter and a step count: nothing of the 30k frozen weights.
    opt_floats = _leaves_size(lora_run["initial"].network().opt_state)
    assert 2 * adapter_floats <= opt_floats <= 2 * adapter_floats + 4
    assert _leaves_size(base) > 10 * adapter_floats

    # The checkpoint the run left: base bitwise unchanged, every adapter B moved off zero.
    from train.checkpoint import Checkpointer

    checkpointer = Checkpointer(lora_run["root"] / "run" / "checkpoints")
    try:
        saved = checkpointer.restore_params()
    finally:
        checkpointer.close()
    saved_base, saved_adapters = split_adapters(saved)
    flat_saved, flat_base = traverse_util.flatten_dict(saved_base), traverse_util.flatten_dict(base)
    assert flat_saved.keys() == flat_base.keys()
    for key in flat_base:
        np.testing.assert_array_equal(flat_saved[key], flat_base[key], err_msg="/".join(key))
    for path, pair in saved_adapters.items():
        assert np.abs(pair["b"]).max() > 0, path
    assert LORA_KEY not in lora_run["result"].state.params  # the result applies merged


def test_result_is_merged_and_adapters_reload_on_their_own(lora_run):
    from train.steps.lora import split_adapters
    from zoo.layers.lora import merge
    from zoo.layers.lora_files import load_adapters

    result = lora_run["result"]
    base, _ = split_adapters(lora_run["initial"].network().params)
    adapters, config = load_adapters(lora_run["root"] / "run" / "adapters.safetensors", base)
    assert (config.rank, config.alpha, config.targets) == (4, 8.0, ("attention/qkv", "mlp/down"))
    merged = merge(base, adapters, config)
    for got, want in zip(jax.tree_util.tree_leaves(result.state.params), jax.tree_util.tree_leaves(merged)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    ids = np.arange(4, 20, dtype=np.int32)[None]
    logits = result.model.apply(result.state.variables, ids)
    base_logits = result.model.apply({"params": base}, ids)
    assert np.abs(np.asarray(logits) - np.asarray(base_logits)).max() > 1e-4  # the adapters act
    assert result.summary["lora"] == {"rank": 4, "alpha": 8.0, "targets": ["attention/qkv", "mlp/down"]}
    assert np.isfinite(result.summary["test_loss"])
    assert result.summary["test_nats_per_char"] == pytest.approx(result.summary["test_loss"], rel=1e-6)


def test_generate_reads_a_lora_run(lora_run):
    from train.cli.generate import generate

    prompt = HAMLET[:6]
    texts = generate("gpt_nano", lora_run["root"] / "run", prompt=prompt, length=12, greedy=True)
    assert len(texts) == 1 and texts[0].startswith(prompt) and len(texts[0]) == len(prompt) + 12


def test_lora_refuses_a_frozen_backbone_and_unknown_targets(tmp_path):
    from train import train_and_evaluate
    from zoo.errors import SettingError, ZooError

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(HAMLET)
    with pytest.raises(ZooError, match="--lora freezes every weight|names no classifier head"):
        train_and_evaluate(_config(corpus, lora_rank=4, freeze_backbone=True), tmp_path / "a")
    with pytest.raises(SettingError, match="no kernel matches the targets.*attention/qkv"):
        train_and_evaluate(_config(corpus, lora_rank=4, lora_targets="attention/query"), tmp_path / "b")
