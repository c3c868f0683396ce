"""What a run leaves in its workdir: config.json, metrics.jsonl, TensorBoard events, summary.json, PNG plots."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class RunLog:
    """Per-epoch metrics to metrics.jsonl and TensorBoard (tensorboardX: no TensorFlow needed)."""

    def __init__(self, workdir: Path, history: list[dict], enabled: bool = True):
        self.workdir, self.enabled = workdir, enabled
        self.path = workdir / "metrics.jsonl"
        self.writer = None
        if enabled:
            # A resumed run rewrites the log from the checkpoint's history, so epochs
            # logged after that checkpoint by the killed run do not appear twice.
            _atomic_write(self.path, "".join(json.dumps(r) + "\n" for r in history))
            from tensorboardX import SummaryWriter
            self.writer = SummaryWriter(str(workdir / "tensorboard"))

    def log_epoch(self, record: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        for key, value in record.items():
            if key not in ("epoch", "step") and isinstance(value, (int, float)) and np.isfinite(value):
                self.writer.add_scalar(key.replace("_", "/", 1), value, record["step"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def write_config(workdir: Path, config: dict) -> None:
    """config.json, written when a run starts: an interrupted run can still be sampled or predicted from."""
    _atomic_write(workdir / "config.json", json.dumps(config, indent=2, default=str) + "\n")


def write_json(path: Path, content) -> None:
    _atomic_write(path, json.dumps(content, ensure_ascii=False))


def write_summary(workdir: Path, summary: dict) -> None:
    _atomic_write(workdir / "summary.json", json.dumps(summary, indent=2) + "\n")


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in ("loss", "accuracy") if any(f"train_{m}" in r for r in history)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    epochs = [r["epoch"] for r in history]
    for ax, metric in zip(axes[0], metrics):
        for split in ("train", "val"):
            values = [r.get(f"{split}_{metric}", np.nan) for r in history]
            if not np.all(np.isnan(values)):
                ax.plot(epochs, values, marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(matrix: list[list[int]], class_names: list[str] | None, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(matrix)
    k = len(cm)
    names = class_names if class_names and len(class_names) == k else [str(i) for i in range(k)]
    fig, ax = plt.subplots(figsize=(1 + 0.6 * k, 1 + 0.6 * k))
    ax.imshow(cm, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
