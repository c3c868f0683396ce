"""Sequence to sequence: teacher-forced training on target tokens; greedy exact match after training."""
from __future__ import annotations

from typing import Any

import numpy as np

from train.data.batching import eval_batches
from train.tasks.language_model import LanguageModelTask
from train.tasks.registry import register_task


@register_task("seq2seq")
class Seq2SeqTask(LanguageModelTask):
    data_kinds = ("seq2seq",)

    def after_training(self, state) -> dict[str, Any]:
        return {"exact_match": exact_match(self.model, state.variables, self.dataset.split("test"),
                                           self.eval_batch_size())}

    def eval_batch_size(self) -> int:
        size = self.config.data.eval_batch_size
        return size or self.config.data.batch_size * max(1, 1024 // self.config.data.batch_size)

    @classmethod
    def headline(cls, summary: dict[str, Any]) -> str:
        return (f"test exact match {summary['test_exact_match']:.4f} (greedy), "
                f"token accuracy {summary['test_accuracy']:.4f}")


def exact_match(model, variables, source, batch_size: int) -> float:
    """Fraction of examples whose greedy decoding equals the target exactly (through <eos>)."""
    from zoo.sequence.decode import exact_matches, greedy_decode

    hits = []
    for batch in eval_batches(source, batch_size):
        decoded = greedy_decode(model, variables, batch["x"], max_length=batch["y"].shape[1] + 1)
        hits.append(np.asarray(exact_matches(decoded.tokens, batch["y"]))[batch["mask"] > 0])
    return float(np.concatenate(hits).mean())
