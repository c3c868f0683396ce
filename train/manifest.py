"""A checkpoint step's manifest: the size and SHA-256 of every file in its folder, written once the save has
committed, so that a restore can tell a damaged step (a flipped byte, a truncated or missing file) from a good
one. Orbax itself checksums only its shard indices, not the array bytes or the JSON record."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

NAME = "zoo_manifest.json"
MISSING = "no manifest"


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != NAME)


def write(folder: Path) -> None:
    """Record every file of a committed step; written to a temporary name and renamed, so a manifest is
    either whole or absent."""
    entries = {str(p.relative_to(folder)): [p.stat().st_size, _digest(p)] for p in _files(folder)}
    tmp = folder / (NAME + ".tmp")
    tmp.write_text(json.dumps(entries, indent=0, sort_keys=True))
    os.replace(tmp, folder / NAME)


def exists(folder: Path) -> bool:
    return (folder / NAME).is_file()


def check(folder: Path) -> str | None:
    """None when every recorded file is there with its size and digest; MISSING without a manifest; else what
    differs, naming the first damaged file."""
    if not exists(folder):
        return MISSING
    try:
        entries = json.loads((folder / NAME).read_text())
    except (OSError, ValueError) as err:
        return f"its manifest is unreadable ({err})"
    for name, (size, digest) in entries.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, {size} were saved"
        if _digest(path) != digest:
            return f"{name} does not match the checksum recorded when it was saved"
    return None


def intact(folder: Path) -> bool:
    """True when the step matches its manifest, or has none to check against."""
    return check(folder) in (None, MISSING)
