"""Regression: real-valued targets; MSE, MAE and R^2 on the test split."""
from __future__ import annotations

from typing import Any

import numpy as np

from train.metrics import regression_metrics
from train.tasks.registry import register_task
from train.tasks.supervised import SupervisedTask


@register_task("regression")
class RegressionTask(SupervisedTask):
    data_kinds = ("regression",)
    hits = None  # no accuracy

    def metrics(self, results: dict[str, np.ndarray]) -> dict[str, Any]:
        return {"loss": float(np.mean(results["loss"])), **regression_metrics(results["outputs"], results["targets"])}

    @classmethod
    def headline(cls, summary: dict[str, Any]) -> str:
        return f"test MSE {summary['test_mse']:.4f}, R^2 {summary['test_r2']:.4f}"
