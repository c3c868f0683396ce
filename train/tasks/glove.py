"""GloVe: weighted least squares on the log co-occurrence counts of the corpus, AdaGrad per entry.

The data are the nonzero entries of the 1/distance-weighted co-occurrence matrix (zoo.text.glove), shuffled
every epoch. Each step follows the reference implementation: every entry's gradient updates the rows it
touches, scaled by that row's accumulated squared gradients (started at 1), which then grow by its square.

Not optax.adagrad: a dense optimizer sees one summed gradient per row per batch, so a frequent word that occurs
in hundreds of a batch's entries would move as far as a rare one; GloVe's biases then cannot reach the size of
log counts and every vector collapses onto one direction. The rate is --lr, constant.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from train.data.word_contexts import CooccurrenceEntries
from train.steps.reduce import global_sum
from train.tasks.registry import register_task
from train.tasks.word_vectors import WordVectorTask, scatter_rows
from zoo.text.glove import cooccurrence_matrix, glove_loss, glove_prediction

# (table, side) for every GloVe parameter: word-side tables (side 0) are read at an entry's row,
# context-side ones (side 1) at its column.
TABLES = (("embed", 0), ("context", 1), ("bias", 0), ("context_bias", 1))


class EntryAdaGrad:
    """The optimizer state GloVe keeps: per-row accumulated squared gradients, started at 1 (the update itself
    is in the step, row by row)."""

    def init(self, params):
        return {name: jnp.ones_like(params[name]["embedding"]) for name, _ in TABLES}


@register_task("glove")
class GloVeTask(WordVectorTask):

    def training_examples(self):
        matrix = cooccurrence_matrix(self.corpus.sentences(), len(self.words), self.config.task.window).tocoo()
        pairs = np.stack([matrix.row, matrix.col], axis=1).astype(np.int32)
        return CooccurrenceEntries(pairs, matrix.data.astype(np.float32))

    def optimizer(self):
        return EntryAdaGrad()

    def vectors(self, params) -> np.ndarray:
        """W + W~, as the paper recommends."""
        return np.asarray(params["embed"]["embedding"] + params["context"]["embedding"], np.float32)

    def train_step(self, state, batch, axis_name=None):
        net, task = state.network(), self.config.task
        ids_of = (batch["x"][:, 0], batch["x"][:, 1])
        counts, weight = batch["y"], batch["mask"]

        def loss_fn(gathered):  # per-entry rows: vectors [B, D], biases [B, 1]
            w, w_context, b, b_context = gathered
            per_entry = glove_loss(glove_prediction(w, w_context, b[:, 0], b_context[:, 0]), counts, task.x_max,
                                   task.alpha)
            # Half the squared error, so the gradient is f(X) * error as in the reference implementation.
            return 0.5 * jnp.sum(per_entry * weight)

        gathered = tuple(net.params[name]["embedding"][ids_of[side]] for name, side in TABLES)
        loss, grads = jax.value_and_grad(loss_fn)(gathered)
        lr = self.config.optim.lr
        params, accumulators = {}, {}
        for (name, side), grad in zip(TABLES, grads):
            ids, table, accumulated = ids_of[side], net.params[name]["embedding"], net.opt_state[name]
            params[name] = {"embedding": scatter_rows(table, ids, -lr * grad / jnp.sqrt(accumulated[ids]), axis_name)}
            accumulators[name] = scatter_rows(accumulated, ids, jnp.square(grad), axis_name)
        count = jnp.maximum(global_sum(weight.sum(), axis_name), 1.0)
        net = net.replace(params=params, opt_state=accumulators)
        return (state.with_network("model", net).replace(step=state.step + 1),
                {"loss": global_sum(loss, axis_name) / count})
