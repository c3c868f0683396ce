"""word2vec: skip-gram or CBOW with negative sampling (the model card says which), trained by SGD on the rows
a batch touches.

Autodiff through the Flax module would give a dense [V, D] gradient per table and an update of every row each
step; here the loss is differentiated with respect to the gathered rows only and the SGD update of those rows
is scattered back (repeated rows add up), which is 3-4x faster on CPU and exact for SGD. Losses are summed, not
averaged: each example moves its rows by lr times its own gradient, as the reference's one-example-at-a-time
SGD does, whatever the batch size. The rate decays linearly with progress (--schedule linear), as gensim's
alpha does.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from train.data.word_contexts import ContextWindows, SkipGramPairs, keep_probabilities, negative_table
from train.optim import make_schedule
from train.steps.reduce import global_sum
from train.tasks.registry import register_task
from train.tasks.word_vectors import WordVectorTask, rows_or_zero, scatter_rows
from zoo.errors import ZooError
from zoo.text.word2vec import SkipGram, cbow_loss, negative_sampling_loss, true_negatives


@register_task("word2vec")
class Word2VecTask(WordVectorTask):

    def training_examples(self):
        task = self.config.task
        if task.window < 1 or task.negatives < 1:
            raise ZooError(f"--window and --negatives must be at least 1, got {task.window} and {task.negatives}")
        examples = SkipGramPairs if self.skip_gram else ContextWindows
        return examples(self.corpus, task.window, task.negatives,
                        keep=keep_probabilities(self.corpus.counts, task.subsample),
                        table=negative_table(self.corpus.counts))

    @property
    def skip_gram(self) -> bool:
        return issubclass(self.card.builder, SkipGram)  # else CBOW

    def optimizer(self):
        if self.config.optim.name != "sgd":
            raise ZooError(f"word2vec updates only the rows a batch touches, which is exact for plain SGD alone; "
                           f"use --optimizer sgd (got {self.config.optim.name})")
        return optax.sgd(make_schedule(self.config.optim, self.total_steps))

    def train_step(self, state, batch, axis_name=None):
        net = state.network()
        embed, output = net.params["embed"]["embedding"], net.params["output"]["embedding"]
        example = batch["mask"] > 0
        if self.skip_gram:  # centres [B], contexts [B], negatives [B, K]: one (centre, context) pair each
            centres, contexts, negatives = batch["x"], batch["y"], batch["negatives"]
            weights = example.astype(jnp.float32)  # [B]
            in_ids, out_ids = centres, jnp.concatenate([contexts[:, None], negatives], axis=-1)

            def loss_fn(rows):
                in_rows, out_rows = rows  # [B, D], [B, 1 + K, D]
                per_pair = negative_sampling_loss(in_rows, out_rows[:, 0], out_rows[:, 1:],
                                                  true_negatives(negatives, contexts))
                return jnp.sum(per_pair * weights)
        else:  # contexts [B, C], centres [B], negatives [B, K]
            contexts, centres, negatives = batch["x"], batch["y"], batch["negatives"]
            weights = example.astype(jnp.float32)  # [B]
            in_ids, out_ids = rows_or_zero(contexts), jnp.concatenate([centres[:, None], negatives], axis=-1)

            def loss_fn(rows):
                in_rows, out_rows = rows  # [B, C, D], [B, 1 + K, D]
                per_example = cbow_loss(in_rows, contexts >= 0, out_rows[:, 0], out_rows[:, 1:],
                                        true_negatives(negatives, centres))
                return jnp.sum(per_example * weights)

        loss, row_grads = jax.value_and_grad(loss_fn)((embed[in_ids], output[out_ids]))
        # SGD on the gathered rows: its only state is the step count of the learning-rate schedule.
        (in_update, out_update), opt_state = self.tx.update(row_grads, net.opt_state)
        params = {"embed": {"embedding": scatter_rows(embed, in_ids, in_update, axis_name)},
                  "output": {"embedding": scatter_rows(output, out_ids, out_update, axis_name)}}
        count = jnp.maximum(global_sum(weights.sum(), axis_name), 1.0)
        net = net.replace(params=params, opt_state=opt_state)
        return (state.with_network("model", net).replace(step=state.step + 1),
                {"loss": global_sum(loss, axis_name) / count})
