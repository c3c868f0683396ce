"""Sampling text from a language model that steps one token at a time, and the diversity of what comes out.

`sample` feeds the prompt in one pass (`model.run`), then generates inside one jit-compiled `lax.scan`
(`model.step` per token), so a long sample is one compiled loop, not a Python call per character.
Any module with `run(x, carry=None) -> (logits [B, T, V], carry)` and `step(tokens [B], carry) ->
(logits [B, V], carry)` works, e.g. zoo.sequence.char_lm.CharLM.
"""
from __future__ import annotations

import functools
from typing import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

# <pad>, <unk>, <bos>: never a useful next token (the token conventions of zoo.text.vocab).
NEVER_SAMPLED = (0, 1, 2)


def filter_logits(logits, *, temperature, top_k: int = 0, top_p: float | jax.Array = 1.0,
                  suppress_ids: Sequence[int] = ()):
    """logits [..., V] -> scaled log-weights: suppressed ids, everything outside the top k, and everything
    outside the nucleus (the most likely tokens whose probabilities, after temperature, first reach top_p;
    Holtzman et al. 2020) at -inf. The order is Hugging Face's: temperature, top-k, top-p."""
    logits = logits.astype(jnp.float32)
    if suppress_ids:
        logits = logits.at[..., jnp.asarray(suppress_ids)].set(-jnp.inf)
    logits = logits / temperature
    if top_k:
        kth_best = jax.lax.top_k(logits, top_k)[0][..., -1:]  # [..., 1]
        logits = jnp.where(logits < kth_best, -jnp.inf, logits)
    if not (isinstance(top_p, (int, float)) and top_p >= 1.0):
        ordered = jnp.sort(logits, axis=-1)[..., ::-1]  # [..., V], best first
        before = jnp.cumsum(jax.nn.softmax(ordered, axis=-1), axis=-1) - jax.nn.softmax(ordered, axis=-1)
        # the smallest logit still inside the nucleus: a token is kept while the mass before it is < top_p
        kept = jnp.where(before < top_p, ordered, jnp.inf).min(axis=-1, keepdims=True)
        logits = jnp.where(logits < kept, -jnp.inf, logits)
    return logits


@functools.partial(jax.jit, static_argnames=("model", "length", "top_k", "greedy", "suppress_ids"))
def _generate(model, variables, prompt, key, temperature, *, length: int, top_k: int, greedy: bool,
              suppress_ids: tuple[int, ...]):
    """prompt [B, P] -> generated ids [B, length]."""
    logits, carry = model.apply(variables, prompt, method="run")
    last_logits = logits[:, -1]  # [B, V]: the prediction for the first new token

    def choose(logits_bv, step_key):
        weights = filter_logits(logits_bv, temperature=temperature, top_k=top_k, suppress_ids=suppress_ids)
        if greedy:
            return jnp.argmax(weights, axis=-1).astype(jnp.int32)
        return jax.random.categorical(step_key, weights, axis=-1).astype(jnp.int32)

    def body(state, step_key):
        carry, logits_bv = state
        token = choose(logits_bv, step_key)  # [B]
        logits_bv, carry = model.apply(variables, token, carry, method="step")
        return (carry, logits_bv), token

    _, tokens_tb = jax.lax.scan(body, (carry, last_logits), jax.random.split(key, length))
    return tokens_tb.T


def sample(model, variables, prompt_ids, length: int, key, temperature: float = 1.0, top_k: int = 0,
           greedy: bool = False, suppress_ids: Sequence[int] = NEVER_SAMPLED) -> np.ndarray:
    """Continue `prompt_ids` by `length` tokens; returns the new ids int32 [B, length] (prompt not included).

    prompt_ids: [P] or [B, P] ints, P >= 1, no padding (rows of a batch share a length). `key` seeds the draws:
    the same key gives the same text. Each step draws from softmax(logits / temperature) restricted to the
    `top_k` most likely tokens (0 = all); `greedy` (or temperature 0) takes the argmax instead. Token ids in
    `suppress_ids` (default <pad>, <unk>, <bos>) are never produced.
    """
    prompt = np.asarray(prompt_ids)
    if prompt.ndim == 1:
        prompt = prompt[None]
    if prompt.ndim != 2 or prompt.shape[1] == 0 or not np.issubdtype(prompt.dtype, np.integer):
        raise ValueError(f"prompt_ids must be int token ids [P] or [B, P] with P >= 1, got {prompt.dtype} "
                         f"{prompt.shape}; start from the <bos> id (2) or a character of the vocabulary")
    if (prompt == 0).any():
        raise ValueError("prompt_ids contain padding (id 0); sample each prompt length separately")
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    vocab_size = getattr(model, "vocab_size", None)
    if top_k < 0 or (vocab_size and top_k > vocab_size):
        raise ValueError(f"top_k must be in [0, vocab size {vocab_size}] (0 = no filtering), got {top_k}")
    greedy = greedy or temperature == 0
    tokens = _generate(model, variables, jnp.asarray(prompt, jnp.int32), key,
                       jnp.float32(1.0 if greedy else temperature), length=int(length), top_k=int(top_k),
                       greedy=bool(greedy), suppress_ids=tuple(int(i) for i in suppress_ids))
    return np.asarray(tokens)


def distinct_n(texts_or_ids: Iterable, n: int) -> float:
    """Distinct-n: unique n-grams / all n-grams over every sequence (Li et al. 2016); 1.0 = no repetition.

    Sequences are strings (n-grams of characters) or sequences of token ids. 0.0 when none has n tokens."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    seen, total = set(), 0
    for seq in texts_or_ids:
        items = tuple(seq) if isinstance(seq, str) else tuple(np.asarray(seq).reshape(-1).tolist())
        grams = [items[i:i + n] for i in range(len(items) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else 0.0
