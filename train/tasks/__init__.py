"""Tasks: one file per kind of learning, looked up by the model card's `task` (see base.Task)."""
from __future__ import annotations

from train.tasks.registry import TASKS, register_task, task_for

# Importing a task's module registers it.
from train.tasks import classification, glove, graph, language_model, regression, seq2seq, word2vec  # noqa: E402,F401
from train.tasks import masked_lm  # noqa: E402,F401

__all__ = ["TASKS", "register_task", "task_for"]
