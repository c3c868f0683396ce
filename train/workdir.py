"""What is checked before a run writes anything to its workdir, so that a refused run changes nothing:
the path is a usable folder, it holds no other run unless --resume says to continue it, and a resumed run has
the settings of the run it continues (or --allow-changed names the ones that differ)."""
from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from train.config import FLAT_NAMES, TrainConfig
from zoo.errors import SettingError

# Settings that do not change what a run computes (how often it saves or logs, what it shows, how the batch is
# spread over devices, how big evaluation batches are), so a resumed run may change them freely.
FREE_ON_RESUME = frozenset({"resume", "allow_changed", "progress", "plots", "log_every", "keep_checkpoints",
                            "checkpoint_every", "checkpoint_epochs", "parallel", "mesh", "fsdp", "eval_batch_size",
                            "divergence"})


def check_usable(workdir: Path) -> None:
    """The workdir is a folder (or can become one) that this process can write to."""
    if workdir.exists() and not workdir.is_dir():
        raise SettingError(f"--workdir {workdir} is a file, not a folder; choose another --workdir")
    existing = workdir
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise SettingError(f"--workdir {workdir} lies under {existing}, which is a file; choose another --workdir")
    try:  # a real write: permission bits say nothing for root, or for a read-only mount
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise SettingError(f"cannot write to {existing} ({err.strerror}); choose a --workdir you can write to") \
            from err


def settings_of(config: dict[str, Any]) -> dict[str, Any]:
    """{flat name: value} of a config as saved (dataclasses.asdict), plus `model` and `model_overrides`, with
    tuples as lists so that a config read back from JSON compares equal to the live one."""
    flat = {name: config.get(section, {}).get(field) for name, (section, field) in FLAT_NAMES.items()}
    flat["model"], flat["model_overrides"] = config.get("model"), config.get("model_overrides")
    return json.loads(json.dumps(flat, default=str))


def allowed_changes(text: str) -> set[str]:
    names = {n.strip().replace("-", "_") for n in text.split(",") if n.strip()}
    if "all" in names:
        return set(FLAT_NAMES) | {"model", "model_overrides"}
    unknown = sorted(names - set(FLAT_NAMES) - {"model_overrides"})
    if unknown:
        raise SettingError(f"--allow-changed names unknown setting(s) {', '.join(unknown)}; use the flag names "
                           f"without dashes, e.g. lr,epochs,batch_size (or all)")
    return names


def check_same_settings(saved: dict[str, Any], config: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """The settings that differ from the run being resumed, {name: (saved, now)}; raise unless every one is
    free or allowed by --allow-changed."""
    before, now = settings_of(saved), settings_of(dataclasses.asdict(config))
    changed = {k: (before[k], now[k]) for k in now if k not in FREE_ON_RESUME and before.get(k) != now[k]}
    refused = {k: v for k, v in changed.items() if k not in allowed_changes(config.run.allow_changed)}
    if refused:
        listed = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in refused.items())
        raise SettingError(
            f"--resume continues a run with other settings ({listed}). Resume with the run's own settings, "
            f"pass --allow-changed {','.join(refused)} to change them on purpose, or start a new --workdir.")
    return changed


def check_epochs(completed: int, config: TrainConfig) -> None:
    if config.run.epochs < completed:
        raise SettingError(f"the run being resumed has already completed {completed} epochs; --epochs "
                           f"{config.run.epochs} would end before where it stands. Pass --epochs {completed} to "
                           f"evaluate it as it is, or more to train on.")


def saved_config(workdir: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """The config of the run whose checkpoint `record` is: saved with it, or (older runs) its config.json."""
    if "config" in record:
        return record["config"]
    try:
        return json.loads((workdir / "config.json").read_text())
    except (OSError, ValueError):
        return None


def check_same_run_files(workdir: Path, files: dict[str, Any]) -> None:
    """A resumed run's data must give the files its run started with (its vocabulary, its words), or the
    saved embeddings would be read with another meaning."""
    for name, content in files.items():
        try:
            saved = json.loads((workdir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # absent or unreadable: the run rewrites it
        if saved != json.loads(json.dumps(content)):
            raise SettingError(f"the data now gives another {name} (vocabulary or word list) than the run in "
                               f"{workdir} was trained with; resume with the run's own data and text settings, or "
                               "start a new --workdir")
