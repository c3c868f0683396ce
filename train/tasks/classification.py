"""Classification: one label per example (images, features, texts); accuracy, macro F1, confusion, ROC-AUC."""
from __future__ import annotations

from typing import Any

import numpy as np

from train import report
from train.metrics import classification_metrics
from train.tasks.registry import register_task
from train.tasks.supervised import SupervisedTask


@register_task("classification")
class ClassificationTask(SupervisedTask):
    data_kinds = ("classification",)

    def metrics(self, results: dict[str, np.ndarray]) -> dict[str, Any]:
        return {"loss": float(np.mean(results["loss"])),
                **classification_metrics(results["outputs"], results["targets"], self.dataset.num_classes)}

    def write_reports(self, workdir, test: dict[str, Any]) -> None:
        if self.config.run.plots and "confusion_matrix" in test:
            report.plot_confusion(test["confusion_matrix"], self.dataset.class_names, workdir / "confusion_matrix.png")

    @classmethod
    def headline(cls, summary: dict[str, Any]) -> str:
        line = f"test accuracy {summary['test_accuracy']:.4f}"
        if summary.get("test_roc_auc") is not None:  # binary tasks (links, molecules): the ranking metric
            line += f", ROC-AUC {summary['test_roc_auc']:.4f}"
        return line
