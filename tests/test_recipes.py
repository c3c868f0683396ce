"""Recipes (train/configs): every figure the README quotes is a recipe that records its command and result.

Each recipe's command line must build the recipe's configuration, and each figure must be the one recorded
where the recipe says it was measured (a benchmark's JSON, or the slow test that measures it)."""
from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest

from train.cli.train import build_parser, config_from_args
from train.configs import all_recipes, recipe
from zoo.errors import UnknownNameError

ROOT = Path(__file__).resolve().parents[1]
RECIPES = all_recipes()
QUOTED_DIGITS = 5e-4  # the README quotes three or four decimals


def _cli_config(command: str):
    words = shlex.split(command)
    assert words[0] == "zoo-train", command
    return config_from_args(build_parser().parse_args(words[1:]))


def _flat_record(settings: dict) -> dict:
    """A benchmark's recorded settings by flat config name ({'optim': {'name': 'adam'}} -> {'optimizer': 'adam'})."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict) and key != "model_overrides":
            flat |= {("optimizer" if (key, k) == ("optim", "name") else k): v for k, v in value.items()}
        else:
            flat[key] = value
    return flat


def _tuples(value):
    """JSON gives lists where the config holds tuples."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return tuple(map(_tuples, value)) if isinstance(value, (list, tuple)) else value


def test_there_is_a_recipe_for_each_family_of_figures():
    families = {Path(r.source.split("::")[0]).stem for r in RECIPES.values()}
    assert {"sentiment_food_reviews_cpu", "graph_tasks_cpu", "seq2seq_transduction_cpu", "char_lm_shakespeare_cpu",
            "word2vec_vs_gensim", "test_accuracy_real_data"} <= families


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_command_gives_its_configuration(name):
    chosen = RECIPES[name]
    config = chosen.config()  # every setting is a known one, every value of the right kind
    if chosen.command.startswith("zoo-train"):
        assert _cli_config(chosen.command) == config
        assert _cli_config(f"zoo-train --recipe {name}") == config
    else:
        script = ROOT / shlex.split(chosen.command)[1]
        assert script.is_file(), f"{name}: {script} does not exist"


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_figures_are_the_recorded_ones(name):
    chosen = RECIPES[name]
    path, _, test_name = chosen.source.partition("::")
    assert (ROOT / path).is_file(), f"{name}: {path} does not exist"
    if test_name:
        assert f"def {test_name}(" in (ROOT / path).read_text()
        return
    record = chosen.record(ROOT)
    for metric, value in chosen.measured.items():
        assert chosen.recorded(ROOT, metric) == pytest.approx(value, abs=QUOTED_DIGITS), f"{name}: {metric}"
    # Where the benchmark recorded the settings it ran with, they are the recipe's.
    recorded = _flat_record(record.get("recipe") or record.get("settings") or {})
    config = chosen.config()
    flat = config.flat() | {"model_overrides": dict(config.model_overrides)}
    differing = {k: (v, flat[k]) for k, v in recorded.items() if k in flat and _tuples(v) != _tuples(flat[k])}
    assert not differing, f"{name}: recorded vs recipe {differing}"


def test_flags_given_with_a_recipe_apply_on_top_and_overrides_merge():
    config = _cli_config("zoo-train --recipe gat_atlas --epochs 3 --set heads=2")
    assert config.run.epochs == 3 and config.data.dataset == "graph_atlas_connected"
    assert dict(config.model_overrides) == {"hidden": (16, 16), "heads": 2, "dropout": 0.0, "attention_dropout": 0.0}


def test_unknown_recipe_and_wrong_model_are_refused_with_the_fix():
    with pytest.raises(UnknownNameError, match="gcn_karate"):
        recipe("gcn_karat")
    with pytest.raises(ValueError, match="zoo-train --recipe gcn_karate"):
        _cli_config("zoo-train gat --recipe gcn_karate")


def test_recipes_are_frozen_records():
    chosen = next(iter(RECIPES.values()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        chosen.model = "other"
