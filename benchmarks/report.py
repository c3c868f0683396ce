"""What every benchmark's JSON records about the machine, and how it is written."""
from __future__ import annotations

import json
import os
import platform


def machine() -> dict:
    import jax

    return {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "jax_backend": jax.default_backend(), "jax_devices": [str(d) for d in jax.devices()]}


def write_json(path: str, report: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
