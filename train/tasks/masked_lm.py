"""BERT pre-training: the masked LM, plus next-sentence prediction when the model has its head.

The data (train.data.sentence_pairs) brings segment pairs [CLS] A [SEP] B [SEP] with BERT's 15 % masking
already drawn (seeded by run seed, epoch and batch: resumable; held-out masks fixed per example). The model
(zoo.text.bert_pretraining.BertPretraining, or any module with the same `pretrain` method) returns logits at
the masked positions only and, with `next_sentence`, NSP logits on the pooler; without it B is always the true
next segment and the loss is the masked LM's alone.

The objective is BERT's: mean cross-entropy over the masked tokens of the global batch + mean NSP
cross-entropy over its examples. Both means are global (train.steps.reduce) and dropout draws from the step key
(train.steps.rng), so jit over a Mesh, pmap and several processes take the same steps. Held-out metrics:
masked-token accuracy (and the accuracy of always guessing the train split's most frequent word, for scale),
MLM cross-entropy and perplexity, NSP accuracy and cross-entropy.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from train.data import sentence_pairs  # noqa: F401  (registers the shakespeare_pairs data set)
from train.data.sentence_pairs import RANDOM_NEXT, FIRST_WORD_ID
from train.optim import make_optimizer
from train.state import create_train_state
from train.steps.reduce import global_sum
from train.steps.rng import step_key
from train.tasks.base import Task, build_model, training_copy
from train.tasks.registry import register_task
from zoo.errors import ZooError


@register_task("masked_lm")
class MaskedLMTask(Task):
    data_kinds = ("sentence_pairs",)

    def __init__(self, config, card, dataset, parallel):
        super().__init__(config, card, dataset, parallel)
        if config.transfer.pretrained or config.transfer.freeze_backbone or config.transfer.backbone_lr_scale != 1.0:
            raise ZooError(f"{card.name} is pre-trained from scratch by the masked_lm task; drop --pretrained, "
                           "--freeze-backbone and --backbone-lr-scale (load Hugging Face BertForPreTraining "
                           "weights with zoo.weights instead)")
        self.model = build_model(card, self.dataset, config)
        if not hasattr(self.model, "pretrain"):
            raise ZooError(f"{card.name} has no pre-training heads (a `pretrain` method); the masked_lm task trains "
                           "zoo.text.bert_pretraining.BertPretraining models such as bert_mini")
        self.next_sentence = bool(getattr(self.model, "next_sentence", False))
        self.step_model = training_copy(self.model, parallel)
        self.tx = make_optimizer(config.optim, self.total_steps)
        counts = self.dataset.splits["train"].word_counts()[FIRST_WORD_ID:]
        self.most_frequent_id = FIRST_WORD_ID + int(np.argmax(counts))

    def prepare_data(self, dataset):
        """Without the NSP head, B is always the true continuation: plain running text, two segments long."""
        fields = {**self.card.defaults, **dict(self.config.model_overrides)}  # the model is built later
        nsp = fields.get("next_sentence", getattr(self.card.builder, "next_sentence", False))
        random_next = RANDOM_NEXT if nsp else 0.0
        splits = {name: source.with_random_next(random_next) for name, source in dataset.splits.items()}
        return dataclasses.replace(dataset, splits=splits)

    def init_state(self):
        example = self.dataset.splits["train"].collate(np.arange(1), 1, 1, np.random.default_rng(0))
        return jax.device_get(create_train_state(self.model, self.tx, example["x"], self.config.run.seed))

    # --- the step bodies ---------------------------------------------------------------------------------------
    def _forward(self, params, batch, key):
        return self.step_model.apply(
            {"params": params}, batch["x"], batch["token_types"], masked_positions=batch["positions"],
            train=key is not None, rngs={} if key is None else {"dropout": key}, method="pretrain")

    def train_step(self, state, batch, axis_name=None):
        net = state.network()
        key = step_key(state.rng, state.step, axis_name)
        example = batch["mask"]  # [B]
        token = batch["mlm_weights"] * example[:, None]  # [B, P]: the chosen positions of real examples
        tokens = jnp.maximum(global_sum(token.sum(), axis_name), 1.0)
        examples = jnp.maximum(global_sum(example.sum(), axis_name), 1.0)

        def objective(params):
            mlm_logits, nsp_logits = self._forward(params, batch, key)
            mlm_losses = optax.softmax_cross_entropy_with_integer_labels(mlm_logits, batch["y"])  # [B, P]
            sums = {"mlm_loss": (mlm_losses * token).sum(),
                    "accuracy": ((mlm_logits.argmax(-1) == batch["y"]) * token).sum()}
            total = sums["mlm_loss"] / tokens
            if nsp_logits is not None:
                nsp_losses = optax.softmax_cross_entropy_with_integer_labels(nsp_logits, batch["next"])  # [B]
                sums["nsp_loss"] = (nsp_losses * example).sum()
                sums["nsp_accuracy"] = ((nsp_logits.argmax(-1) == batch["next"]) * example).sum()
                total = total + sums["nsp_loss"] / examples
            return total, sums

        # Each device's loss is its share of the global means, so the global gradient is the sum of the shares.
        (_, sums), grads = jax.value_and_grad(objective, has_aux=True)(net.params)
        grads = global_sum(grads, axis_name)
        updates, opt_state = self.tx.update(grads, net.opt_state, net.params)
        net = net.replace(params=optax.apply_updates(net.params, updates), opt_state=opt_state)
        sums = global_sum(sums, axis_name)
        metrics = {"mlm_loss": sums["mlm_loss"] / tokens, "accuracy": sums["accuracy"] / tokens}
        if "nsp_loss" in sums:
            metrics.update(nsp_loss=sums["nsp_loss"] / examples, nsp_accuracy=sums["nsp_accuracy"] / examples)
        metrics["loss"] = metrics["mlm_loss"] + metrics.get("nsp_loss", 0.0)
        return state.with_network("model", net).replace(step=state.step + 1), metrics

    def eval_step(self, state, batch, axis_name=None):
        """Per example: masked-LM loss, token and hit sums, its target weights, and NSP loss and hit."""
        mlm_logits, nsp_logits = self._forward(state.network().params, batch, None)
        weights = batch["mlm_weights"]
        mlm_losses = optax.softmax_cross_entropy_with_integer_labels(mlm_logits, batch["y"])
        out = {"mlm_loss": (mlm_losses * weights).sum(-1), "mlm_weights": weights,
               "mlm_correct": ((mlm_logits.argmax(-1) == batch["y"]) * weights).sum(-1)}
        if nsp_logits is not None:
            out["nsp_loss"] = optax.softmax_cross_entropy_with_integer_labels(nsp_logits, batch["next"])
            out["nsp_correct"] = (nsp_logits.argmax(-1) == batch["next"]).astype(jnp.float32)
        return out

    def metrics(self, results: dict[str, np.ndarray]) -> dict[str, Any]:
        weights = results["mlm_weights"]
        tokens = float(weights.sum())
        mlm_loss = float(results["mlm_loss"].sum()) / tokens
        baseline = float(((results["targets"] == self.most_frequent_id) * weights).sum()) / tokens
        out = {"loss": mlm_loss, "mlm_loss": mlm_loss, "mlm_perplexity": math.exp(min(mlm_loss, 700.0)),
               "accuracy": float(results["mlm_correct"].sum()) / tokens, "baseline_accuracy": baseline,
               "masked_tokens": tokens}
        if "nsp_loss" in results:
            out.update(nsp_loss=float(results["nsp_loss"].mean()), nsp_accuracy=float(results["nsp_correct"].mean()))
            out["loss"] = mlm_loss + out["nsp_loss"]
        return out

    def result_model(self):
        return self.model

    def summary_extras(self) -> dict[str, Any]:
        return {"most_frequent_word": self.dataset.codec.vocab.tokens[self.most_frequent_id]}

    @classmethod
    def headline(cls, summary: dict[str, Any]) -> str:
        guess = summary.get("most_frequent_word")
        line = (f"test masked-token accuracy {summary['test_accuracy']:.4f} (always '{guess}': "
                f"{summary['test_baseline_accuracy']:.4f}), MLM loss {summary['test_mlm_loss']:.4f}")
        if summary.get("test_nsp_accuracy") is not None:
            line += f", NSP accuracy {summary['test_nsp_accuracy']:.4f}"
        return line
