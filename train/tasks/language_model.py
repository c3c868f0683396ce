"""Language models: next-token prediction at every position of a window; cross-entropy per real token."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from train.steps.supervised import no_transform, per_sequence_sums, token_weights
from train.tasks.registry import register_task
from train.tasks.supervised import SupervisedTask


@register_task("language_model")
class LanguageModelTask(SupervisedTask):
    data_kinds = ("language_model",)
    report = staticmethod(per_sequence_sums)

    def inputs(self):
        return no_transform

    def weights(self):
        return token_weights(self.dataset.pad_id)  # the data set's padding, not a constant

    def metrics(self, results: dict[str, np.ndarray]) -> dict[str, Any]:
        return token_metrics(results)

    @classmethod
    def headline(cls, summary: dict[str, Any]) -> str:
        return (f"test cross-entropy {summary['test_loss']:.4f} nats/token, perplexity "
                f"{summary['test_perplexity']:.2f}, token accuracy {summary['test_accuracy']:.4f}")


def token_metrics(sums: dict[str, np.ndarray]) -> dict[str, float]:
    """Cross-entropy per real target token, its perplexity, and token accuracy."""
    tokens = float(sums["weight"].sum())
    loss = float(sums["loss"].sum()) / tokens
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "accuracy": float(sums["correct"].sum()) / tokens,
            "tokens": tokens}
