"""Character language models (Karpathy's char-rnn): Embed -> Recurrent (RNN / GRU / LSTM) -> Dense to the vocabulary.

Training is teacher-forced: `model(x)` reads the true characters x [B, T] and predicts the next one at every
position, logits [B, T, V]. Generation carries the recurrent state one character at a time through
`model.apply(variables, tokens, carry, method="step")`, with the same parameters and the same arithmetic,
so a sampled text comes from exactly the distribution the training loss measured.
See zoo.sequence.sampling for temperature / top-k / greedy sampling.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.registry import register_model
from zoo.sequence.cards import sequence
from zoo.sequence.recurrent import Recurrent, lengths_from_tokens
from zoo.sequence.tokens import check_token_ids, embed_ids

Carry = Any  # h_n [L, B, H] for rnn/gru, (h_n, c_n) for lstm: zoo.sequence.Recurrent's (torch's) layout


class CharLM(nn.Module):
    """x int32 [B, T] (0 = padding, right-padded) -> next-character logits [B, T, vocab_size]."""

    vocab_size: int = 88  # 84 distinct characters of the complete works of Shakespeare + 4 specials
    pad_id: int = 0  # the token id of padding (the data set's)
    embed_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 1
    cell: str = "gru"  # 'rnn' | 'gru' | 'lstm'
    dropout: float = 0.0  # between stacked layers and before the output layer, in training
    freeze_embeddings: bool = False
    unroll: int = 1  # time steps per compiled loop iteration; a CPU speed knob, same numbers
    dtype: Any = None  # compute dtype; None = float32
    param_dtype: Any = jnp.float32

    def setup(self):
        self.embed = nn.Embed(self.vocab_size, self.embed_dim, dtype=self.dtype, param_dtype=self.param_dtype)
        self.recurrent = Recurrent(cell=self.cell, hidden_size=self.hidden_size, num_layers=self.num_layers,
                                   dropout=self.dropout, dtype=self.dtype, param_dtype=self.param_dtype,
                                   unroll=self.unroll)
        self.output_dropout = nn.Dropout(self.dropout)
        self.head = nn.Dense(self.vocab_size, dtype=self.dtype, param_dtype=self.param_dtype)

    def __call__(self, x, *, train: bool = False):
        logits, _ = self.run(x, train=train)
        return logits

    def run(self, x, carry: Carry = None, *, train: bool = False) -> tuple[jax.Array, Carry]:
        """x [B, T] from `carry` (None = zeros) -> (logits [B, T, V], carry after the last real character).

        Generation feeds its prompt through this in one pass, then continues with `step`."""
        check_token_ids(x, type(self).__name__)
        vectors = embed_ids(self.embed, x, self.freeze_embeddings)  # [B, T, E]
        # Padding (0) leaves the state as it was, so `carry` is the state after each row's real text.
        outputs, carry = self.recurrent(vectors, lengths_from_tokens(x, self.pad_id), initial_state=carry, train=train)
        outputs = self.output_dropout(outputs, deterministic=not train)  # [B, T, H]
        return self.head(outputs).astype(jnp.float32), carry

    def step(self, tokens, carry: Carry) -> tuple[jax.Array, Carry]:
        """One character per row: tokens [B] int, carry -> (next-character logits [B, V], new carry)."""
        logits, carry = self.run(tokens[:, None], carry)
        return logits[:, 0], carry

    @nn.nowrap
    def initial_carry(self, batch: int) -> Carry:
        """The zero state `run` starts from: [L, B, H] zeros ((h, c) for lstm)."""
        zeros = jnp.zeros((self.num_layers, batch, self.hidden_size), self.dtype or jnp.float32)
        return (zeros, zeros) if self.cell == "lstm" else zeros


# --- registry ----------------------------------------------------------------------------------------------------

# benchmarks/char_lm_shakespeare.py trains char_gru this way on the complete works of Shakespeare (5 M characters,
# split 90/5/5 by position) through the real loop: validation cross-entropy 1.62 after epoch 1 and 1.56 after
# epoch 2 (2222 steps, 7.6 min on a shared, busy 2-core CPU; test 1.48). A high Adam rate with clipping learns
# fastest per CPU minute; 128-character windows beat 64 at the same tokens per step because fewer positions
# start without context; two passes over all the text beat three over two thirds of it (1.61).
RECIPE = {"epochs": 2, "batch_size": 32, "seq_len": 128, "optimizer": "adam", "lr": 5e-3, "schedule": "cosine",
          "clip_norm": 1.0}
_REFERENCE_SOURCE = ("the bar of zoo issue 4: validation cross-entropy <= 1.6 nats/char within 20 CPU minutes "
                     "(char-rnn: Karpathy, 'The Unreasonable Effectiveness of Recurrent Neural Networks', 2015)")


def _register(name: str, cell: str, what: str) -> None:
    register_model(name, CharLM, **sequence(
        task="language_model", default_dataset="shakespeare", example_input_shape=(64,),
        defaults={"vocab_size": 88, "embed_dim": 64, "hidden_size": 256, "num_layers": 1, "cell": cell},
        data_fields={"vocab_size": "vocab_size", "pad_id": "pad_id"}, metric="val_loss",
        reference=(1.6, "shakespeare (complete works, character level)", _REFERENCE_SOURCE),
        description=f"Character language model: embedding -> {what} -> dense to the vocabulary; "
                    "teacher-forced training, stepwise sampling (zoo.sequence.sampling)",
        recipe=RECIPE,
    ))


_register("char_rnn", "rnn", "tanh RNN")
_register("char_gru", "gru", "GRU")
_register("char_lstm", "lstm", "LSTM")
