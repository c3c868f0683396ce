"""What every benchmark's JSON records about the machine, and how it is written."""
from __future__ import annotations

import json
import os
import platform
import time


def machine() -> dict:
    import jax

    return {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "jax_backend": jax.default_backend(), "jax_devices": [str(d) for d in jax.devices()]}


def write_json(path: str, report: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)


def best_seconds(run, steps: int = 1, repeats: int = 3) -> float:
    """Seconds of `steps` calls of `run`, the best of `repeats` (the least disturbed by the rest of the machine),
    after one warm-up call (compilation)."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            run()
        times.append(time.perf_counter() - started)
    return min(times)


def load_average(before: tuple, after: tuple) -> dict:
    """The CPU load average (1, 5, 15 min) before and after a measurement, and whether other work on the
    machine likely slowed it (load above half the CPUs): every timing figure is only as good as this."""
    cpus = os.cpu_count() or 1
    return {"cpu_load_average_1_5_15min": {"before": [round(v, 2) for v in before],
                                           "after": [round(v, 2) for v in after]},
            "machine_busy": max(before[0], after[0], after[2]) > 0.5 * cpus}
