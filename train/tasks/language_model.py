"""Language models: next-token prediction at every position of a window; cross-entropy per real token."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from train.steps.supervised import no_transform, per_sequence_sums, token_weights
from train.tasks.registry import register_task
from train.tasks.supervised import SupervisedTask


EVAL_LOGITS = 1 << 26  # logits one default evaluation batch may hold


@register_task("language_model")
class LanguageModelTask(SupervisedTask):
    data_kinds = ("language_model",)
    report = staticmethod(per_sequence_sums)

    def inputs(self):
        return no_transform

    def eval_examples_limit(self) -> int:
        # The eval step materialises logits [B, T, V] before reducing them: keep them near 256 MB of float32.
        return max(1, EVAL_LOGITS // (self.dataset.input_shape[0] * self.dataset.num_classes))

    def weights(self):
        return token_weights(self.dataset.pad_id)  # the data set's padding, not a constant

    def metrics(self, results: dict[str, np.ndarray]) -> dict[str, Any]:
        metrics = token_metrics(results)
        chars = characters_per_token(self.dataset.codec)
        if chars is not None:  # character or byte-level BPE tokens: the same figure for both
            metrics["nats_per_char"] = float(results["loss"].sum()) / max(1, int(chars[results["targets"]].sum()))
        return metrics

    @classmethod
    def headline(cls, summary: dict[str, Any]) -> str:
        per_char = f" ({summary['test_nats_per_char']:.4f} nats/char)" if "test_nats_per_char" in summary else ""
        return (f"test cross-entropy {summary['test_loss']:.4f} nats/token{per_char}, perplexity "
                f"{summary['test_perplexity']:.2f}, token accuracy {summary['test_accuracy']:.4f}")


def characters_per_token(codec) -> np.ndarray | None:
    """int [V]: the characters each id spells, for codecs where that is defined (characters: 1, specials 0;
    byte-level BPE: its table); None for word tokens, whose spacing the codec does not keep."""
    if hasattr(codec, "chars_per_token"):
        return codec.chars_per_token
    if getattr(getattr(codec, "tokenizer", None), "name", None) == "char":
        from zoo.text.vocab import SPECIALS

        return np.asarray([0 if token in SPECIALS else len(token) for token in codec.vocab.tokens], np.int64)
    return None


def token_metrics(sums: dict[str, np.ndarray]) -> dict[str, float]:
    """Cross-entropy per real target token, its perplexity, and token accuracy."""
    tokens = float(sums["weight"].sum())
    loss = float(sums["loss"].sum()) / tokens
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "accuracy": float(sums["correct"].sum()) / tokens,
            "tokens": tokens}
