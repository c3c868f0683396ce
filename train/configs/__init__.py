"""Recipes: every figure the README quotes, with the command that reproduces it and what it measured.

Like big_vision's config files, each module here documents a run in its docstring and defines it in code:
`RECIPES` lists `Recipe`s, each the model, the settings on top of its card's recipe, the exact command line,
and the measured result with where it was recorded. `zoo-train --recipe NAME` starts from one (flags given
still apply on top). `tests/test_recipes.py` loads every recipe, checks that its command line gives the same
configuration, and that the figures it quotes are the ones recorded in the benchmark's JSON.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

from zoo.errors import UnknownNameError
from zoo.registry import suggest


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    model: str
    settings: dict[str, Any]  # flat settings (train.config.config_for) on top of the card's recipe
    command: str  # the shell command that runs it
    measured: dict[str, Any]  # what it reached: metric -> value (as the README quotes it; "a.b" is a nested key)
    source: str  # where the measurement is recorded: a JSON under benchmarks/results, or the test that measured it
    at: tuple[str, ...] = ()  # in a JSON source, the path to the record holding `measured` ("model=NAME" picks
    #                           the entry of a list whose "model" is NAME)

    def config(self):
        from train.config import config_for

        return config_for(self.model, **self.settings)

    def record(self, root: Path) -> dict[str, Any]:
        """The entry of the JSON source (relative to the repository `root`) that holds the measurement."""
        node = json.loads((root / self.source).read_text())
        for key in self.at:
            if isinstance(node, list):
                field, _, value = key.partition("=")
                matches = [entry for entry in node if str(entry.get(field)) == value]
                if len(matches) != 1:
                    raise KeyError(f"{self.source}: {len(matches)} entries with {key} under {self.at}")
                node = matches[0]
            else:
                node = node[key]
        return node

    def recorded(self, root: Path, metric: str) -> Any:
        """The value of `metric` ("a.b" for a nested key) in the record of the JSON source."""
        node = self.record(root)
        for key in metric.split("."):
            node = node[key]
        return node


def all_recipes() -> dict[str, Recipe]:
    found = {}
    for module in pkgutil.iter_modules(__path__):
        for recipe in importlib.import_module(f"{__name__}.{module.name}").RECIPES:
            if recipe.name in found:
                raise ValueError(f"recipe {recipe.name!r} is defined twice")
            found[recipe.name] = recipe
    return found


def recipe(name: str) -> Recipe:
    recipes = all_recipes()
    if name not in recipes:
        raise UnknownNameError(f"unknown recipe {name!r}.{suggest(name, list(recipes))} Recipes: "
                               f"{', '.join(sorted(recipes))} (train/configs)")
    return recipes[name]
