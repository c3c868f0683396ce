"""Evaluation metrics from per-example outputs (host side, scikit-learn)."""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from zoo.layers import predict_classes


def classification_metrics(outputs: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """outputs [N, K] scores, labels [N] -> accuracy, macro precision/recall/F1, confusion, ROC-AUC (binary)."""
    preds = np.asarray(predict_classes(outputs))
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        labels, preds, labels=list(range(num_classes)), average="macro", zero_division=0)
    out = {
        "accuracy": float(np.mean(preds == labels)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "confusion_matrix": skm.confusion_matrix(labels, preds, labels=list(range(num_classes))).tolist(),
    }
    if num_classes == 2:
        # AUC needs only a ranking: the positive-class score, or its margin over class 0.
        scores = outputs[:, 0] if outputs.shape[1] == 1 else outputs[:, 1] - outputs[:, 0]
        out["roc_auc"] = float(skm.roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else float("nan")
    return out


def regression_metrics(outputs: np.ndarray, targets: np.ndarray) -> dict:
    targets = targets.reshape(outputs.shape)
    return {
        "mse": float(skm.mean_squared_error(targets, outputs)),
        "mae": float(skm.mean_absolute_error(targets, outputs)),
        "r2": float(skm.r2_score(targets, outputs)),
    }
