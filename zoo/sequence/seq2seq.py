"""Encoder-decoder (seq2seq) recurrent networks, with optional Bahdanau or Luong attention.

    src [B, S] --embed--> Recurrent encoder (GRU/LSTM, optionally bidirectional) --> memory [B, S, Hm]
                                                          final state --bridge--> decoder state
    decoder, one target token at a time:  <bos> y_1 ... y_{T-1}  ->  logits for y_1 ... y_T (= ... <eos>)

* attention='none': Sutskever et al. 2014 / Cho et al. 2014: the final encoder state is all the decoder sees.
* 'bahdanau' (Bahdanau et al. 2015): before each step the previous decoder state attends over the memory
  (additive scores); the context joins the token embedding as the cell's input.
* 'luong' (Luong et al. 2015, 'general' scores, input feeding): after each step the new decoder state attends;
  tanh(W [h_t; context]) is the attentional state, which predicts the token and is fed to the next step.

Training is teacher-forced (`model(src, targets, train=True)`); with `teacher_forcing < 1` each step instead
reads the model's own previous prediction with probability 1 - teacher_forcing (scheduled sampling, Bengio et
al. 2015), the coins drawn from the 'dropout' rng. Decoding (zoo.sequence.decode) encodes once with `encode`
and then calls `decode_step` per token: the same parameters and arithmetic as the teacher-forced pass.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from zoo.errors import InputShapeError
from zoo.sequence.attention import BahdanauAttention, LuongAttention
from zoo.layers.examples import source_and_target_ids
from zoo.registry import register_model
from zoo.sequence.cards import sequence
from zoo.sequence.recurrence import hidden_of
from zoo.sequence.recurrent import CELLS, Recurrent, lengths_from_tokens
from zoo.sequence.tokens import check_token_ids, embed_ids
from zoo.text.vocab import BOS_ID

ATTENTIONS = ("none", "bahdanau", "luong")
# Decoder state: (one cell carry per layer, the fed-back attentional state [B, H] (Luong; [B, 0] otherwise)).
# Every leaf has the batch first, so beam search can reorder hypotheses with one gather.
DecoderCarry = tuple[tuple[Any, ...], jax.Array]


class Encoded(struct.PyTreeNode):
    """What the decoder reads of the source, computed once per source sequence."""

    memory: jax.Array  # [B, S, Hm] encoder outputs (0 at padding); Hm = H * directions
    keys: jax.Array  # [B, S, K] memory as the attention scores it (projected once)
    mask: jax.Array  # [B, S] bool, False at padding


class Decoder(nn.Module):
    """One decoding step: (encoded, carry, token [B]) -> (carry, logits [B, V])."""

    vocab_size: int
    embed_dim: int
    hidden_size: int
    cell: str
    attention: str
    num_layers: int
    dropout: float
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def setup(self):
        common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        self.embed = nn.Embed(self.vocab_size, self.embed_dim, **common)
        self.cells = [CELLS[self.cell](hidden_size=self.hidden_size, **common) for _ in range(self.num_layers)]
        if self.attention == "bahdanau":
            self.attend = BahdanauAttention(units=self.hidden_size, **common)
        elif self.attention == "luong":
            self.attend = LuongAttention(score_fn="general", **common)
        if self.attention != "none":
            self.combine = nn.Dense(self.hidden_size, **common)  # [h_t; context] -> attentional state
        self.drop = nn.Dropout(self.dropout)
        self.head = nn.Dense(self.vocab_size, **common)

    def project_keys(self, memory: jax.Array) -> jax.Array:
        return memory if self.attention == "none" else self.attend.project_keys(memory)

    def __call__(self, encoded: Encoded, carry: DecoderCarry, token: jax.Array, *, train: bool = False):
        cell_carries, feed = carry
        x = self.drop(self.embed(token), deterministic=not train)  # [B, E]
        if self.attention == "bahdanau":  # attend with the state before this step
            context, _ = self.attend(hidden_of(cell_carries[-1]), encoded.memory, encoded.keys, encoded.mask)
            x = jnp.concatenate([x, context.astype(x.dtype)], axis=-1)
        elif self.attention == "luong":  # input feeding: last step's attentional state
            x = jnp.concatenate([x, feed.astype(x.dtype)], axis=-1)
        new_carries = []
        for layer, cell in enumerate(self.cells):
            if layer > 0:
                x = self.drop(x, deterministic=not train)
            cell_carry, x = cell(cell_carries[layer], x)
            new_carries.append(cell_carry)
        if self.attention == "luong":  # attend with the state after this step
            context, _ = self.attend(x, encoded.memory, encoded.keys, encoded.mask)
        if self.attention != "none":
            x = jnp.tanh(self.combine(jnp.concatenate([x, context.astype(x.dtype)], axis=-1)))
        if self.attention == "luong":
            feed = x
        logits = self.head(self.drop(x, deterministic=not train)).astype(jnp.float32)
        return (tuple(new_carries), feed), logits


class Seq2Seq(nn.Module):
    """src int32 [B, S] (0 = padding), targets int32 [B, T] (tokens then <eos>, 0-padded)
    -> logits [B, T, tgt_vocab_size] predicting targets from `<bos>` + targets[:, :-1].

    Without targets the decoder feeds back its own argmax for S steps (a quick look, not a decoder:
    use zoo.sequence.decode.greedy_decode / beam_search)."""

    src_vocab_size: int = 24
    tgt_vocab_size: int = 24
    pad_id: int = 0  # the token id of padding in sources (the data set's)
    embed_dim: int = 64
    hidden_size: int = 128
    cell: str = "gru"  # 'rnn' | 'gru' | 'lstm'
    attention: str = "none"  # 'none' | 'bahdanau' | 'luong'
    num_layers: int = 1  # in the encoder and in the decoder
    bidirectional: bool = False  # encoder only; the decoder runs left to right
    dropout: float = 0.0  # on embeddings, between layers and before the output layer, in training
    teacher_forcing: float = 1.0  # probability that a training step reads the true previous token
    freeze_embeddings: bool = False  # stop gradients into the source embedding `embed` (pretrained vectors)
    dtype: Any = None
    param_dtype: Any = jnp.float32

    def setup(self):
        if self.cell not in CELLS:
            raise ValueError(f"Seq2Seq: unknown cell {self.cell!r}; use one of {', '.join(CELLS)}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"Seq2Seq: unknown attention {self.attention!r}; use one of {', '.join(ATTENTIONS)}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"Seq2Seq: teacher_forcing is a probability in [0, 1], got {self.teacher_forcing}")
        common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        self.embed = nn.Embed(self.src_vocab_size, self.embed_dim, **common)
        self.embed_drop = nn.Dropout(self.dropout)
        self.encoder = Recurrent(cell=self.cell, hidden_size=self.hidden_size, num_layers=self.num_layers,
                                 bidirectional=self.bidirectional, dropout=self.dropout, **common)
        if self.bidirectional:  # both directions' final states -> one decoder state per layer
            self.bridge = [nn.Dense(self.hidden_size, **common)
                           for _ in range(2 if self.cell == "lstm" else 1)]
        self.decoder = Decoder(self.tgt_vocab_size, self.embed_dim, self.hidden_size, self.cell, self.attention,
                               self.num_layers, self.dropout, **common)

    def __call__(self, src, targets=None, *, train: bool = False):
        encoded, carry = self.encode(src, train=train)
        batch = src.shape[0]
        if targets is None:  # free running: only the first input (<bos>) is given
            targets = jnp.zeros_like(src)
            use_truth = jnp.zeros(src.shape, bool)
        elif targets.ndim != 2 or targets.shape[0] != batch or not jnp.issubdtype(targets.dtype, jnp.integer):
            raise InputShapeError(f"Seq2Seq: targets must be int token ids [B, T] with B = {batch}, got "
                                  f"{targets.dtype} {targets.shape}")
        elif train and self.teacher_forcing < 1.0:
            use_truth = jax.random.bernoulli(self.make_rng("dropout"), self.teacher_forcing, targets.shape)
        else:
            use_truth = jnp.ones(targets.shape, bool)
        inputs = jnp.concatenate([jnp.full((batch, 1), BOS_ID, targets.dtype), targets[:, :-1]], axis=1)
        use_truth = use_truth.at[:, 0].set(True)  # the first input is always <bos>

        def step(decoder, state, xs):
            carry, previous = state
            truth, read_truth = xs
            token = jnp.where(read_truth, truth, previous)
            carry, logits = decoder(encoded, carry, token, train=train)
            return (carry, jnp.argmax(logits, -1).astype(token.dtype)), logits

        run = nn.scan(step, variable_broadcast="params", split_rngs={"params": False, "dropout": True},
                      in_axes=1, out_axes=1)
        start = jnp.full((batch,), BOS_ID, inputs.dtype)
        _, logits = run(self.decoder, (carry, start), (inputs, use_truth))
        return logits  # [B, T, V]

    def encode(self, src, *, train: bool = False) -> tuple[Encoded, DecoderCarry]:
        """src [B, S] -> (what the decoder reads, the decoder's initial carry)."""
        check_token_ids(src, "Seq2Seq", "src")
        vectors = embed_ids(self.embed, src, self.freeze_embeddings)  # [B, S, E]
        vectors = self.embed_drop(vectors, deterministic=not train)
        memory, final = self.encoder(vectors, lengths_from_tokens(src, self.pad_id), train=train)
        encoded = Encoded(memory=memory, keys=self.decoder.project_keys(memory), mask=src != self.pad_id)
        feed_width = self.hidden_size if self.attention == "luong" else 0
        feed = jnp.zeros((src.shape[0], feed_width), memory.dtype)
        return encoded, (self._bridge(final), feed)

    def decode_step(self, encoded: Encoded, carry: DecoderCarry, token, *, train: bool = False):
        """token [B] (the previous output; <bos> first) -> (new carry, logits [B, V] for the next token)."""
        return self.decoder(encoded, carry, token, train=train)

    def _bridge(self, final) -> tuple[Any, ...]:
        """The encoder's final state (torch layout [L * dirs, B, H]) -> one decoder cell carry per layer."""
        parts = final if self.cell == "lstm" else (final,)
        if self.bidirectional:
            def merge(part, dense, squash):  # [2L, B, H] -> [L, B, 2H] -> [L, B, H]
                layers, batch, hidden = part.shape[0] // 2, part.shape[1], part.shape[2]
                both = jnp.swapaxes(part.reshape(layers, 2, batch, hidden), 1, 2).reshape(layers, batch, 2 * hidden)
                out = dense(both)
                return jnp.tanh(out) if squash else out

            # h lives in (-1, 1) so it is squashed; an LSTM's cell state c is not bounded.
            parts = tuple(merge(p, dense, squash=(i == 0)) for i, (p, dense) in enumerate(zip(parts, self.bridge)))
        if self.cell == "lstm":
            return tuple((parts[0][k], parts[1][k]) for k in range(self.num_layers))
        return tuple(parts[0][k] for k in range(self.num_layers))


# --- registry ----------------------------------------------------------------------------------------------------

# 20 symbols + 4 specials: the vocabulary of train.data.transduction's 'reverse' and 'sort' sets.
_TOKENS = {"src_vocab_size": 24, "tgt_vocab_size": 24}
_REFERENCE_SOURCE = ("this repository's CPU benchmark (benchmarks/seq2seq_transduction.py, card recipe): greedy "
                     "exact match of the whole output on the 2,000 held-out 'reverse' test strings")
# Epochs per card: what reached the figures in benchmarks/results/seq2seq_transduction_cpu.json.
_RECIPE = {"batch_size": 128, "optimizer": "adam", "lr": 3e-3, "schedule": "cosine", "clip_norm": 1.0}


def _register(name: str, description: str, reference: float, epochs: int, **fields) -> None:
    register_model(name, Seq2Seq, **sequence(
        task="seq2seq", default_dataset="reverse", example_input_shape=(12,), example=source_and_target_ids,
        defaults={**_TOKENS, **fields}, recipe={**_RECIPE, "epochs": epochs}, metric="test_exact_match",
        reference=(reference, "reverse", _REFERENCE_SOURCE), description=description,
        input_spec="int32 source ids [B, S] and target ids [B, T] (tokens then <eos>), 0 = padding (right-padded)",
        # One vocabulary for both sides (the transduction and translation sets share it).
        data_fields={"src_vocab_size": "vocab_size", "tgt_vocab_size": "vocab_size", "pad_id": "pad_id"},
        reads_targets=True,
    ))


_register("seq2seq_gru", "GRU encoder-decoder without attention (Cho et al. 2014; Sutskever et al. 2014): the "
          "final encoder state is the decoder's only view of the source.", 0.889, epochs=10, cell="gru",
          attention="none")
_register("seq2seq_gru_attention", "RNNsearch (Bahdanau et al. 2015): bidirectional GRU encoder, GRU decoder with "
          "additive attention. Measured 1.0 (the bar is 0.99).", 0.99, epochs=3, cell="gru", attention="bahdanau",
          bidirectional=True)
_register("seq2seq_lstm_attention", "LSTM encoder-decoder with Luong et al. 2015 'general' attention and input "
          "feeding. Measured 1.0 (the bar is 0.99).", 0.99, epochs=6, cell="lstm", attention="luong")
