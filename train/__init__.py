"""train: jit-compiled training of zoo models — steps, data, checkpoints, loop, CLI.

    >>> from train import config_for, train_and_evaluate
    >>> result = train_and_evaluate(config_for("mlp", dataset="digits", epochs=5), "runs/mlp")
    >>> result.summary["test_accuracy"]
"""
from train.config import TrainConfig, config_for
from train.loop import TrainResult, train_and_evaluate
from train.optim import OptimConfig
from train.stops import NonFiniteLossError

__all__ = ["NonFiniteLossError", "OptimConfig", "TrainConfig", "TrainResult", "config_for", "train_and_evaluate"]
