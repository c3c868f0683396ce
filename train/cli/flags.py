"""Command-line flags generated from the config fields (train.config), so a setting is defined once.

Every flag defaults to None, meaning "the model card's recipe"; `given_settings` collects the ones that were
given, by their flat names, for `train.config.config_for`.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
from typing import Any, Iterable

from train.config import section_fields


def add_config_flags(parser: argparse.ArgumentParser, sections: Iterable[str] | None = None,
                     names: Iterable[str] | None = None) -> None:
    """One argument group per config section (or only `sections`), one flag per field (or only `names`)."""
    wanted_sections = set(sections) if sections is not None else None
    wanted_names = set(names) if names is not None else None
    groups: dict[str, argparse._ArgumentGroup] = {}
    for section, cls, field, flat in section_fields():
        if (wanted_sections is not None and section not in wanted_sections) or \
                (wanted_names is not None and flat not in wanted_names):
            continue
        if section not in groups:
            groups[section] = parser.add_argument_group((cls.__doc__ or section).strip().splitlines()[0])
        _add_flag(groups[section], field, flat)


def _add_flag(group, field: dataclasses.Field, flat: str) -> None:
    meta = field.metadata
    flag = meta.get("flag", "--" + flat.replace("_", "-"))
    help_text = meta.get("help", "")
    if isinstance(field.default, bool):
        if field.default:  # on unless switched off: --no-NAME
            group.add_argument("--no-" + flat.replace("_", "-"), dest=flat, action="store_false", default=None,
                               help=f"turn off: {help_text}")
        else:
            group.add_argument(flag, dest=flat, action="store_true", default=None, help=help_text)
        return
    kind = meta.get("type") or type(field.default)
    extras = {k: meta[k] for k in ("choices", "metavar") if k in meta}
    group.add_argument(flag, dest=flat, type=kind, default=None, help=help_text, **extras)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """{flat name: value} of the config flags that were given on the command line."""
    known = {flat for _, _, _, flat in section_fields()}
    return {name: value for name, value in vars(args).items() if name in known and value is not None}


def parse_override(text: str) -> tuple[str, object]:
    """--set FIELD=VALUE: a Python literal when it parses as one (lists become tuples), else the text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set takes FIELD=VALUE (e.g. hidden=256,128 or dropout=0.1), got {text!r}")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    if isinstance(parsed, list):
        parsed = tuple(parsed)
    return key, parsed
