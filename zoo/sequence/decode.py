"""Decoding a seq2seq model (zoo.sequence.seq2seq): greedy, beam search, and scoring a given output.

All three are jit-compiled with fixed shapes (`lax.while_loop`, batched over examples): the source is
encoded once with `model.encode`, then `model.decode_step` runs one token per iteration.

Outputs are token ids [B, L] ending with `<eos>` (when it came within `max_length`) and 0-padded after it,
and their log-probabilities log p(tokens | src) (the `<eos>` included), the same number
`sequence_log_prob` gives for those tokens. `<pad>` and `<bos>` are never generated; their probability
mass is not redistributed, so the scores are the model's own.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from zoo.text.vocab import BOS_ID, EOS_ID, PAD_ID

_NEVER_GENERATED = [PAD_ID, BOS_ID]


class Decoded(NamedTuple):
    tokens: jax.Array  # [B, L] int32, 0 after <eos>
    log_probs: jax.Array  # [B] float32: log p(tokens | src)


def _check(src, max_length: int) -> None:
    if src.ndim != 2 or not jnp.issubdtype(src.dtype, jnp.integer):
        raise ValueError(f"decode: src must be int token ids [B, S], got {src.dtype} {src.shape}")
    if max_length < 1:
        raise ValueError(f"decode: max_length must be at least 1, got {max_length}")


def _next_log_probs(model, variables, encoded, carry, token):
    """token [N] -> (carry, log p(next token) [N, V]); impossible tokens at -inf."""
    carry, logits = model.apply(variables, encoded, carry, token, method=model.decode_step)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return carry, log_probs.at[:, _NEVER_GENERATED].set(-jnp.inf)


def exact_matches(tokens, targets) -> jax.Array:
    """Whether each decoded output equals its target: tokens [B, L], targets [B, T] (tokens, <eos>, 0-padding)
    -> bool [B]. Both sides are compared through their first <eos>; anything after it is ignored."""
    tokens, targets = jnp.asarray(tokens), jnp.asarray(targets)
    width = max(tokens.shape[1], targets.shape[1])

    def through_eos(x):  # [B, width]: the tokens up to the first <eos>, 0 after it
        x = jnp.pad(x, ((0, 0), (0, width - x.shape[1])))
        after = jnp.cumsum(x == EOS_ID, axis=1) - (x == EOS_ID) > 0
        return jnp.where(after, PAD_ID, x)

    return jnp.all(through_eos(tokens) == through_eos(targets), axis=1)


def _lengths(tokens) -> jax.Array:
    """Generated length [B]: up to and including <eos> (all of L without one)."""
    return jnp.sum(tokens != PAD_ID, axis=-1)


def _normalised(log_probs, lengths, length_penalty):
    return log_probs / jnp.maximum(lengths, 1).astype(jnp.float32) ** length_penalty


@functools.partial(jax.jit, static_argnames=("model", "max_length"))
def greedy_decode(model, variables, src, max_length: int) -> Decoded:
    """The most probable next token at every step, until <eos> or `max_length` tokens."""
    _check(src, max_length)
    batch = src.shape[0]
    encoded, carry = model.apply(variables, src, method=model.encode)

    def body(state):
        t, carry, token, tokens, total, done = state
        carry, log_probs = _next_log_probs(model, variables, encoded, carry, token)
        best = jnp.argmax(log_probs, axis=-1).astype(jnp.int32)
        best = jnp.where(done, PAD_ID, best)
        total = total + jnp.where(done, 0.0, jnp.take_along_axis(log_probs, best[:, None], 1)[:, 0])
        return t + 1, carry, best, tokens.at[:, t].set(best), total, done | (best == EOS_ID)

    def running(state):
        t, *_, done = state
        return (t < max_length) & ~jnp.all(done)

    state = (0, carry, jnp.full((batch,), BOS_ID, jnp.int32), jnp.zeros((batch, max_length), jnp.int32),
             jnp.zeros((batch,), jnp.float32), jnp.zeros((batch,), bool))
    _, _, _, tokens, total, _ = jax.lax.while_loop(running, body, state)
    return Decoded(tokens, total)


def _tile(tree, times: int):
    """Every leaf [B, ...] -> [B * times, ...], each row repeated `times` times in place."""
    return jax.tree.map(lambda x: jnp.repeat(x, times, axis=0), tree)


@functools.partial(jax.jit, static_argnames=("model", "beam_width", "max_length", "include_greedy"))
def beam_search(model, variables, src, beam_width: int, max_length: int, length_penalty: float = 0.0,
                include_greedy: bool = True) -> Decoded:
    """The best of `beam_width` hypotheses kept per step, by log p / length**length_penalty.

    length_penalty=0 ranks by raw log-probability; larger values favour longer outputs. A hypothesis that
    reaches <eos> among the top `beam_width` candidates of a step is set aside as finished and the beam is
    refilled from the next-best unfinished candidates; the search stops once no unfinished hypothesis can
    still beat the best finished one. Hypotheses cut off at `max_length` compete too.

    Pruning can in principle lose the greedy path, so with `include_greedy` the greedy output is one more
    candidate: beam search then never scores below `greedy_decode`. With beam_width=1 and length_penalty=0
    the search itself already is greedy decoding.
    """
    _check(src, max_length)
    if beam_width < 1:
        raise ValueError(f"beam_search: beam_width must be at least 1, got {beam_width}")
    batch, width = src.shape[0], beam_width
    encoded, carry = model.apply(variables, src, method=model.encode)
    encoded, carry = _tile(encoded, width), _tile(carry, width)  # rows b * width + k
    alpha = jnp.asarray(length_penalty, jnp.float32)
    worst = jnp.float32(-jnp.inf)

    def body(state):
        t, carry, alive, alive_lp, fin, fin_lp, fin_score = state
        previous = jax.lax.dynamic_index_in_dim(alive, jnp.maximum(t - 1, 0), axis=2, keepdims=False)
        token = jnp.where(t == 0, BOS_ID, previous.reshape(-1))  # [B * W]
        carry, log_probs = _next_log_probs(model, variables, encoded, carry, token)
        vocab = log_probs.shape[-1]
        candidates = (alive_lp[:, :, None] + log_probs.reshape(batch, width, vocab)).reshape(batch, width * vocab)
        # 2 * width candidates: even if `width` of them end here, `width` others can carry on.
        cand_lp, flat = jax.lax.top_k(candidates, 2 * width)  # [B, 2W], best first
        parent, word = flat // vocab, (flat % vocab).astype(jnp.int32)
        cand = jnp.take_along_axis(alive, parent[:, :, None], axis=1).at[:, :, t].set(word)  # [B, 2W, L]
        ends = word == EOS_ID

        # Finished: <eos> within this step's top `width` (the candidates a plain beam would keep).
        enters = ends & (jnp.arange(2 * width) < width) & jnp.isfinite(cand_lp)
        cand_score = jnp.where(enters, _normalised(cand_lp, t + 1, alpha), worst)
        pool_score = jnp.concatenate([fin_score, cand_score], axis=1)
        fin_score, keep = jax.lax.top_k(pool_score, width)
        fin = jnp.take_along_axis(jnp.concatenate([fin, cand], axis=1), keep[:, :, None], axis=1)
        fin_lp = jnp.take_along_axis(jnp.concatenate([fin_lp, cand_lp], axis=1), keep, axis=1)

        # Alive: the best `width` candidates that did not end.
        alive_lp, keep = jax.lax.top_k(jnp.where(ends, worst, cand_lp), width)
        alive = jnp.take_along_axis(cand, keep[:, :, None], axis=1)
        rows = (jnp.arange(batch)[:, None] * width + jnp.take_along_axis(parent, keep, axis=1)).reshape(-1)
        carry = jax.tree.map(lambda x: x[rows], carry)
        return t + 1, carry, alive, alive_lp, fin, fin_lp, fin_score

    def running(state):
        t, _, _, alive_lp, _, _, fin_score = state
        # Extensions only lose log-probability, and at most reach length max_length, so this bounds
        # the score any unfinished hypothesis can still get.
        best_possible = _normalised(alive_lp[:, 0], max_length, alpha)
        return (t < max_length) & jnp.any(best_possible > fin_score[:, 0])

    # Only beam 0 starts alive: identical copies would fill the beam with duplicates.
    alive_lp = jnp.full((batch, width), worst).at[:, 0].set(0.0)
    empty = jnp.zeros((batch, width, max_length), jnp.int32)
    state = (0, carry, empty, alive_lp, empty, jnp.full((batch, width), worst), jnp.full((batch, width), worst))
    t, _, alive, alive_lp, fin, fin_lp, fin_score = jax.lax.while_loop(running, body, state)

    # Hypotheses cut off at max_length compete with the finished ones (finished first: they win ties).
    cut_score = jnp.where(t == max_length, _normalised(alive_lp, max_length, alpha), worst)
    scores = jnp.concatenate([fin_score, cut_score], axis=1)
    best = jnp.argmax(scores, axis=1)
    tokens = jnp.take_along_axis(jnp.concatenate([fin, alive], axis=1), best[:, None, None], axis=1)[:, 0]
    log_probs = jnp.take_along_axis(jnp.concatenate([fin_lp, alive_lp], axis=1), best[:, None], axis=1)[:, 0]
    if include_greedy:
        greedy = greedy_decode(model, variables, src, max_length)
        greedy_wins = (_normalised(greedy.log_probs, _lengths(greedy.tokens), alpha)
                       > jnp.max(scores, axis=1))
        tokens = jnp.where(greedy_wins[:, None], greedy.tokens, tokens)
        log_probs = jnp.where(greedy_wins, greedy.log_probs, log_probs)
    return Decoded(tokens, log_probs)


@functools.partial(jax.jit, static_argnames=("model",))
def sequence_log_prob(model, variables, src, tokens) -> jax.Array:
    """log p(tokens | src) [B] of any outputs tokens [B, L] (0 = padding after <eos>), teacher-forced."""
    logits = model.apply(variables, src, tokens, train=False)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    picked = jnp.take_along_axis(log_probs, tokens[..., None], axis=-1)[..., 0]
    return jnp.sum(jnp.where(tokens != PAD_ID, picked, 0.0), axis=-1)
