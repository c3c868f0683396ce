"""The masked time loop of every recurrent layer, with a hand-written backward pass.

Autodiff of `jax.lax.scan` accumulates the gradient of the hidden-to-hidden kernel inside the reverse
loop: a small [H, B] x [B, G*H] matmul and a [H, G*H] add per time step. On CPU that loop ran at about
six times the cost of the forward pass. The backward pass here keeps only what must be sequential in the
loop (the cotangents of the gates and the carry: one [B, G*H] x [G*H, H] matmul per step) and computes
the kernel gradient after it, as one [H, T*B] x [T*B, G*H] matmul over all steps: cuDNN's split.

A cell is described by two pure functions:
  gates(h_proj, carry, x_proj) -> new carry    (h_proj = h @ W_hh + inner_bias, x_proj = x @ W_ih + biases)
  hidden(carry) -> h                           (the carry itself, or h of LSTM's (h, c))
Masked steps (t >= length) keep the carry and output zeros, so padding changes nothing.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

Carry = Any  # h [B, H], or (h, c)


def hidden_of(carry: Carry) -> jax.Array:
    """h of a carry: the carry itself, or the first of LSTM's (h, c)."""
    return carry[0] if isinstance(carry, tuple) else carry


def _add_to_hidden(carry: Carry, dh: jax.Array) -> Carry:
    return (carry[0] + dh, *carry[1:]) if isinstance(carry, tuple) else carry + dh


def _select(keep: jax.Array, new: Carry, old: Carry) -> Carry:
    return jax.tree.map(lambda n, o: jnp.where(keep, n, o), new, old)


def _forward(gates: Callable, kernel_hh, inner_bias, carry0, x_proj_tb, mask_tb, unroll: int, save: bool):
    def body(carry, inputs):
        x_proj, keep = inputs
        h_proj = hidden_of(carry) @ kernel_hh + inner_bias
        new = gates(h_proj, carry, x_proj)
        keep = keep[:, None]
        out = jnp.where(keep, hidden_of(new), 0)
        return _select(keep, new, carry), ((carry, h_proj) if save else None, out)

    final, (saved, outputs) = jax.lax.scan(body, carry0, (x_proj_tb, mask_tb), unroll=unroll)
    return final, outputs, saved


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 6))
def masked_recurrence(gates: Callable, kernel_hh, inner_bias, carry0, x_proj_tb, mask_tb, unroll: int = 1):
    """Run `gates` over time. kernel_hh [H, G*H], inner_bias [G*H], carry0 (see module doc),
    x_proj_tb [T, B, G*H], mask_tb [T, B] bool -> (final carry, outputs [T, B, H])."""
    final, outputs, _ = _forward(gates, kernel_hh, inner_bias, carry0, x_proj_tb, mask_tb, unroll, save=False)
    return final, outputs


def _fwd(gates, kernel_hh, inner_bias, carry0, x_proj_tb, mask_tb, unroll):
    final, outputs, (carries, h_projs) = _forward(gates, kernel_hh, inner_bias, carry0, x_proj_tb, mask_tb,
                                                  unroll, save=True)
    return (final, outputs), (kernel_hh, carries, h_projs, x_proj_tb, mask_tb)


def _bwd(gates, unroll, residuals, cotangents):
    kernel_hh, carries, h_projs, x_proj_tb, mask_tb = residuals
    d_final, d_outputs = cotangents

    def body(d_carry, inputs):
        d_out, keep, carry, h_proj, x_proj = inputs
        keep = keep[:, None]

        def step(h_proj, carry, x_proj):
            new = gates(h_proj, carry, x_proj)
            return new, hidden_of(new)

        _, vjp = jax.vjp(step, h_proj, carry, x_proj)
        zero = jax.tree.map(jnp.zeros_like, d_carry)
        d_h_proj, d_prev, d_x_proj = vjp((_select(keep, d_carry, zero), jnp.where(keep, d_out, 0)))
        # A masked step passed its carry through unchanged: its cotangent flows straight back.
        d_prev = jax.tree.map(jnp.add, d_prev, _select(keep, zero, d_carry))
        d_prev = _add_to_hidden(d_prev, d_h_proj @ kernel_hh.T)
        return d_prev, (d_h_proj, d_x_proj)

    d_carry0, (d_h_projs, d_x_proj_tb) = jax.lax.scan(
        body, d_final, (d_outputs, mask_tb, carries, h_projs, x_proj_tb), reverse=True, unroll=unroll)
    hidden_states = hidden_of(carries)  # [T, B, H]: the h each step read
    width = d_h_projs.shape[-1]
    d_kernel_hh = hidden_states.reshape(-1, hidden_states.shape[-1]).T @ d_h_projs.reshape(-1, width)
    d_inner_bias = d_h_projs.sum(axis=(0, 1))
    d_mask = np.zeros(mask_tb.shape, jax.dtypes.float0)  # a boolean input has no cotangent
    return d_kernel_hh, d_inner_bias, d_carry0, d_x_proj_tb, d_mask


masked_recurrence.defvjp(_fwd, _bwd)
