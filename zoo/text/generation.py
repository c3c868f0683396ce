"""Text generation with a KV cache for decoder-only language models (zoo.text.llama.Llama, zoo.text.gpt.GPT).

    prompts (token id lists of any lengths) --left-pad to a bucket of P--> prefill: one forward pass writes the
    cache and gives the first next-token logits --> decode: one token per step against the cache

Shapes are fixed per (batch, P, max_new_tokens), so a bucket compiles once: `generate` runs the decode steps in
one `jax.lax.while_loop` (stopping early when every row has produced a stop token), `stream` runs the same
step, compiled once, from Python and yields each token as it comes (for a terminal). Both draw token t of a
run from the same key, so they produce the same tokens.

Any module works that has `init_cache(batch, slots)` and `__call__(ids, attention_mask=..., cache=...) ->
(logits [B, T, V], cache)`.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from zoo.errors import InputShapeError, SettingError
from zoo.sequence.sampling import filter_logits

BUCKET = 32  # prompts are left-padded to a multiple of this many tokens: one compilation per bucket


@dataclasses.dataclass(frozen=True)
class Sampling:
    """How each next token is chosen: greedy (argmax), or drawn from softmax(logits / temperature) restricted
    to the top_k most likely tokens (0 = all) and to the top_p nucleus (1.0 = all). Ids in suppress_ids are
    never chosen (e.g. a character vocabulary's <pad> and <unk>)."""

    greedy: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    suppress_ids: tuple[int, ...] = ()

    def __post_init__(self):
        if self.temperature < 0:
            raise SettingError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.top_k < 0:
            raise SettingError(f"top_k must be >= 0 (0 = no top-k filter), got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise SettingError(f"top_p must be in (0, 1] (1 = no nucleus filter), got {self.top_p}")

    @property
    def is_greedy(self) -> bool:
        return self.greedy or self.temperature == 0

    def choose(self, logits_bv: jax.Array, key: jax.Array) -> jax.Array:
        """logits [B, V] -> token ids int32 [B]."""
        if self.is_greedy:
            weights = filter_logits(logits_bv, temperature=1.0, suppress_ids=self.suppress_ids)
            return jnp.argmax(weights, axis=-1).astype(jnp.int32)
        weights = filter_logits(logits_bv, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
                                suppress_ids=self.suppress_ids)
        return jax.random.categorical(key, weights, axis=-1).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class Generated:
    """tokens int32 [B, N] (after a row's stop token: pad_id), lengths int [B] (tokens produced, the stop token
    included), prompt_lengths int [B]."""

    tokens: np.ndarray
    lengths: np.ndarray
    prompt_lengths: np.ndarray

    def rows(self) -> list[list[int]]:
        """Each row's generated ids, cut after its stop token."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths)]


def pad_prompts(prompts: Sequence[Sequence[int]], bucket: int = BUCKET, pad_id: int = 0):
    """Token id lists -> (ids int32 [B, P], mask bool [B, P]) left-padded to P, the longest prompt rounded up to
    a multiple of `bucket`."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise InputShapeError("generation needs at least one prompt and no empty prompt; start an empty one from "
                              "the tokenizer's bos token")
    width = math.ceil(max(len(p) for p in prompts) / bucket) * bucket
    ids = np.full((len(prompts), width), pad_id, np.int32)
    mask = np.zeros((len(prompts), width), bool)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = np.asarray(prompt, np.int32)
        mask[row, width - len(prompt):] = True
    return ids, mask


def _split(key: jax.Array, step: jax.Array) -> jax.Array:
    return jax.random.fold_in(key, step)


@functools.partial(jax.jit, static_argnames=("model", "slots"))
def prefill(model, variables, ids, mask, *, slots: int):
    """Prompts ids [B, P] (left-padded; mask True at real tokens) through the model into fresh caches of `slots`
    slots: (the next-token logits [B, V], the caches)."""
    logits, cache = model.apply(variables, ids, attention_mask=mask, cache=model.init_cache(ids.shape[0], slots))
    return logits[:, -1], cache


def _step(model, sampling: Sampling, stop_ids: tuple[int, ...], pad_id: int, variables, key, state):
    """One decode step: choose token `step` from the last logits, feed it. state = (step, cache, logits [B, V],
    done [B] bool); returns (token [B], new state). Rows already done emit pad_id."""
    step, cache, logits, done = state
    token = sampling.choose(logits, _split(key, step))
    token = jnp.where(done, pad_id, token)
    done = done | jnp.isin(token, jnp.asarray(stop_ids, jnp.int32)) if stop_ids else done
    logits, cache = model.apply(variables, token[:, None], cache=cache)
    return token, (step + 1, cache, logits[:, -1], done)


@functools.partial(jax.jit, static_argnames=("model", "sampling", "stop_ids", "pad_id", "max_new_tokens"))
def _decode_loop(model, variables, cache, logits, key, *, sampling, stop_ids, pad_id, max_new_tokens):
    """All decode steps in one while_loop: tokens int32 [B, N] and the number each row produced."""
    batch = logits.shape[0]
    tokens = jnp.full((batch, max_new_tokens), pad_id, jnp.int32)
    lengths = jnp.zeros(batch, jnp.int32)

    def cond(carry):
        (step, _, _, done), _, _ = carry
        return (step < max_new_tokens) & ~jnp.all(done)

    def body(carry):
        state, tokens, lengths = carry
        step, done = state[0], state[3]
        token, state = _step(model, sampling, stop_ids, pad_id, variables, key, state)
        tokens = tokens.at[:, step].set(token)
        lengths = lengths + (~done).astype(jnp.int32)
        return state, tokens, lengths

    start = (jnp.zeros((), jnp.int32), cache, logits, jnp.zeros(batch, bool))
    _, tokens, lengths = jax.lax.while_loop(cond, body, (start, tokens, lengths))
    return tokens, lengths


def _prepare(model, prompts, max_new_tokens: int, bucket: int, pad_id: int):
    if max_new_tokens < 1:
        raise SettingError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    ids, mask = pad_prompts(prompts, bucket, pad_id)
    longest, context = max(len(p) for p in prompts), getattr(model, "max_positions", None)
    if context is not None and longest + max_new_tokens > context:  # positions count real tokens only
        raise InputShapeError(f"a prompt of {longest} tokens + {max_new_tokens} new tokens exceeds the model's "
                              f"context of {context} positions; shorten the prompt or generate fewer tokens")
    return ids, mask, ids.shape[1] + max_new_tokens


def generate(model, variables, prompts: Sequence[Sequence[int]], *, max_new_tokens: int, key: jax.Array | None = None,
             sampling: Sampling = Sampling(greedy=True), stop_ids: Sequence[int] = (), pad_id: int = 0,
             bucket: int = BUCKET) -> Generated:
    """Continue each prompt (a list of token ids; lengths may differ) by up to `max_new_tokens` tokens, stopping a
    row at its first token in `stop_ids`. `key` seeds the draws (needed unless greedy)."""
    ids, mask, slots = _prepare(model, prompts, max_new_tokens, bucket, pad_id)
    key = jax.random.key(0) if key is None else key
    logits, cache = prefill(model, variables, jnp.asarray(ids), jnp.asarray(mask), slots=slots)
    tokens, lengths = _decode_loop(model, variables, cache, logits, key, sampling=sampling,
                                   stop_ids=tuple(int(i) for i in stop_ids), pad_id=int(pad_id),
                                   max_new_tokens=int(max_new_tokens))
    return Generated(np.asarray(tokens), np.asarray(lengths), np.asarray([len(p) for p in prompts]))


def stream(model, variables, prompt: Sequence[int], *, max_new_tokens: int, key: jax.Array | None = None,
           sampling: Sampling = Sampling(greedy=True), stop_ids: Sequence[int] = (), pad_id: int = 0,
           bucket: int = BUCKET) -> Iterator[int]:
    """Yield the continuation of one prompt token by token (the stop token included, then stop): the same
    tokens `generate` gives for it with the same key."""
    ids, mask, slots = _prepare(model, [prompt], max_new_tokens, bucket, pad_id)
    key = jax.random.key(0) if key is None else key
    logits, cache = prefill(model, variables, jnp.asarray(ids), jnp.asarray(mask), slots=slots)
    step = _stream_step(model, sampling, tuple(int(i) for i in stop_ids), int(pad_id))
    state = (jnp.zeros((), jnp.int32), cache, logits, jnp.zeros(1, bool))
    for _ in range(max_new_tokens):
        token, state = step(variables, key, state)
        yield int(token[0])
        if bool(state[3][0]):
            return


@functools.lru_cache(maxsize=16)
def _stream_step(model, sampling: Sampling, stop_ids: tuple[int, ...], pad_id: int):
    return jax.jit(functools.partial(_step, model, sampling, stop_ids, pad_id), donate_argnums=(2,))

