"""Recurrent layers: vanilla (tanh) RNN, GRU and LSTM cells, and `Recurrent`, the batch-first
equivalent of torch.nn.RNN / GRU / LSTM (stacked, bidirectional, length-masked).

Parameters use torch's fused layout and gate order, transposed for `x @ kernel`:
`kernel_ih` [D, G*H], `kernel_hh` [H, G*H], `bias_ih` [G*H], `bias_hh` [G*H], with gates
LSTM (i, f, g, o), GRU (r, z, n), RNN (one). Porting a torch weight is therefore a transpose
(see zoo.sequence.torch_port).

Speed: the input projection of every time step is one matmul before the time loop; only
the hidden-to-hidden matmul runs inside the loop (`jax.lax.scan`, one compiled loop). This is
the same split cuDNN makes, and it matters most on CPU where per-step work is overhead-bound.
The backward pass is written by hand for the same reason (zoo.sequence.recurrence): the kernel
gradient is one matmul after the reverse loop, not one per step inside it.
The loop body is a pure function of the weight arrays, fetched once before the loop, so the
plain `jax.lax.scan` suffices; Flax's lifted `nn.scan` exists to carry module scopes into a
loop, which this body does not need.
"""
from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import InputShapeError
from zoo.sequence.recurrence import hidden_of, masked_recurrence

Carry = Any  # h [B, H] for rnn/gru; (h, c) for lstm


class CellWeights(NamedTuple):
    kernel_ih: jax.Array  # [D, G*H]
    kernel_hh: jax.Array  # [H, G*H]
    bias_ih: jax.Array  # [G*H]
    bias_hh: jax.Array  # [G*H]


def _torch_uniform(hidden_size: int):
    """torch's default for every recurrent weight: U(-1/sqrt(H), 1/sqrt(H))."""
    bound = hidden_size ** -0.5

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _matmul_last(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """x [..., D] @ kernel [D, N] as one 2-D matmul. Its gradient for the kernel is then a plain GEMM;
    written as x [T, B, D] @ kernel, XLA's CPU backend contracts two axes at once, about 4x slower."""
    return (x.reshape(-1, x.shape[-1]) @ kernel).reshape(*x.shape[:-1], kernel.shape[-1])


class _Cell(nn.Module):
    """One recurrent cell. Call it one step at a time: `carry, h_t = cell(carry, x_t)`, x_t [B, D].

    `Recurrent` uses the split form instead: `project` (all steps at once) then `step` per time step.
    """

    hidden_size: int = 128
    dtype: Any = None  # compute dtype; None = from the inputs
    param_dtype: Any = jnp.float32

    num_gates: ClassVar[int] = 1

    @nn.compact
    def weights(self, input_size: int) -> CellWeights:
        """The cell's parameters (created at first call), in the compute dtype."""
        width = self.num_gates * self.hidden_size
        init = _torch_uniform(self.hidden_size)
        params = CellWeights(
            self.param("kernel_ih", init, (input_size, width), self.param_dtype),
            self.param("kernel_hh", init, (self.hidden_size, width), self.param_dtype),
            self.param("bias_ih", init, (width,), self.param_dtype),
            self.param("bias_hh", init, (width,), self.param_dtype),
        )
        dtype = self.dtype or jnp.result_type(params.kernel_ih.dtype)
        return CellWeights(*(jnp.asarray(p, dtype) for p in params))

    @nn.nowrap  # pure functions of the weights: no scope, so they may run inside jax.lax.scan
    def project(self, x: jax.Array, w: CellWeights) -> jax.Array:
        """x [..., D] -> the input part of every gate [..., G*H], with the hidden biases that can be
        folded in outside the loop (all of them except GRU's b_hn, which sits inside r * (...))."""
        return _matmul_last(x.astype(w.kernel_ih.dtype), w.kernel_ih) + (w.bias_ih + w.bias_hh)

    @nn.nowrap
    def inner_bias(self, w: CellWeights) -> jax.Array:
        """The part of bias_hh that cannot fold into the input projection (only GRU has one) [G*H]."""
        return jnp.zeros_like(w.bias_hh)

    @nn.nowrap
    def gates(self, h_proj: jax.Array, carry: Carry, x_proj: jax.Array) -> Carry:
        """The new carry from h_proj = h @ W_hh + inner_bias [B, G*H], the carry and x_proj [B, G*H]."""
        raise NotImplementedError

    @nn.nowrap
    def step(self, w: CellWeights, carry: Carry, x_proj: jax.Array) -> tuple[Carry, jax.Array]:
        """One time step from the projected input x_proj [B, G*H]: (new carry, h [B, H])."""
        new = self.gates(hidden_of(carry) @ w.kernel_hh + self.inner_bias(w), carry, x_proj)
        return new, hidden_of(new)

    def __call__(self, carry: Carry, x_t: jax.Array) -> tuple[Carry, jax.Array]:
        """carry (see `initial_carry`), x_t [B, D] -> (carry, h_t [B, H])."""
        w = self.weights(x_t.shape[-1])
        return self.step(w, carry, self.project(x_t, w))

    @nn.nowrap
    def initial_carry(self, batch: int, dtype: Any = jnp.float32) -> Carry:
        """Zeros: h [B, H] (LSTM: (h, c))."""
        return jnp.zeros((batch, self.hidden_size), dtype)


class RNNCell(_Cell):
    """Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""

    num_gates: ClassVar[int] = 1

    @nn.nowrap
    def gates(self, h_proj, carry, x_proj):
        return jnp.tanh(x_proj + h_proj)


class GRUCell(_Cell):
    """GRU in torch's form: r, z = sigmoid(...); n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
    h' = (1 - z) * n + z * h."""

    num_gates: ClassVar[int] = 3

    @nn.nowrap
    def project(self, x, w):
        hidden = self.hidden_size
        # b_hr and b_hz fold into the input side; b_hn must stay inside r * (W_hn h + b_hn).
        folded_hidden_bias = w.bias_hh.at[2 * hidden:].set(0)
        return _matmul_last(x.astype(w.kernel_ih.dtype), w.kernel_ih) + (w.bias_ih + folded_hidden_bias)

    @nn.nowrap
    def inner_bias(self, w):
        return w.bias_hh.at[:2 * self.hidden_size].set(0)  # b_hn only

    @nn.nowrap
    def gates(self, h_proj, carry, x_proj):
        hidden = self.hidden_size  # h_proj = h @ W_hh + (0, 0, b_hn)
        r = jax.nn.sigmoid(x_proj[:, :hidden] + h_proj[:, :hidden])
        z = jax.nn.sigmoid(x_proj[:, hidden:2 * hidden] + h_proj[:, hidden:2 * hidden])
        n = jnp.tanh(x_proj[:, 2 * hidden:] + r * h_proj[:, 2 * hidden:])
        return (1.0 - z) * n + z * carry


class LSTMCell(_Cell):
    """LSTM in torch's form, gates (i, f, g, o); the carry is (h, c), torch's order."""

    num_gates: ClassVar[int] = 4

    @nn.nowrap
    def gates(self, h_proj, carry, x_proj):
        _, c = carry
        i, f, g, o = jnp.split(x_proj + h_proj, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        return jax.nn.sigmoid(o) * jnp.tanh(c), c

    @nn.nowrap
    def initial_carry(self, batch: int, dtype: Any = jnp.float32) -> Carry:
        zeros = jnp.zeros((batch, self.hidden_size), dtype)
        return zeros, zeros


CELLS: dict[str, type[_Cell]] = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}


def lengths_from_tokens(x: jax.Array, pad_id: int = 0) -> jax.Array:
    """Token ids [B, T] (right-padded with `pad_id`) -> lengths [B] int32."""
    return jnp.sum(x != pad_id, axis=1).astype(jnp.int32)


def last_real(outputs: jax.Array, lengths: jax.Array) -> jax.Array:
    """outputs [B, T, H] -> the output at each sequence's last real step [B, H] (step 0 if length 0).

    For a bidirectional layer the backward half of that vector has read one token only; use the
    final state `h_n` when both directions should summarise the whole sequence."""
    index = jnp.maximum(lengths - 1, 0)
    return jnp.take_along_axis(outputs, index[:, None, None], axis=1)[:, 0]


def reverse_within_lengths(x: jax.Array, lengths: jax.Array) -> jax.Array:
    """[B, T, ...] -> each row's first `length` steps reversed, padded steps left in place.
    Applying it twice gives back x."""
    steps = jnp.arange(x.shape[1])[None, :]  # [1, T]
    index = jnp.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)  # [B, T]
    return jnp.take_along_axis(x, index.reshape(*index.shape, *([1] * (x.ndim - 2))), axis=1)


class Recurrent(nn.Module):
    """torch.nn.RNN / GRU / LSTM equivalent, batch-first.

    x [B, T, D] float, lengths [B] int (None = all T), initial_state as `final` below (None = zeros)
    -> (outputs [B, T, H * dirs], final); final is h_n [L * dirs, B, H] for rnn/gru and (h_n, c_n)
    for lstm, in torch's order (layer-major, forward then backward). Steps t >= length leave the
    state unchanged and output zeros; the backward direction starts at each sequence's last real step.

    Parameters: one cell per layer and direction, named `l{k}` and `l{k}_reverse`.
    """

    cell: str = "lstm"  # 'rnn' (tanh) | 'gru' | 'lstm'
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0  # on each layer's output except the last, in training (as torch)
    dtype: Any = None
    param_dtype: Any = jnp.float32
    unroll: int = 1  # time steps per compiled loop iteration (jax.lax.scan's unroll)

    @nn.compact
    def __call__(self, x, lengths=None, initial_state=None, *, train: bool = False):
        cell_class = self._cell_class()
        batch, steps = self._check_input(x)
        directions = 2 if self.bidirectional else 1
        if lengths is None:
            lengths = jnp.full((batch,), steps, jnp.int32)
        elif jnp.shape(lengths) != (batch,):
            raise InputShapeError(f"Recurrent: lengths must have shape [B] = ({batch},), got {jnp.shape(lengths)}")
        lengths = jnp.clip(jnp.asarray(lengths, jnp.int32), 0, steps)
        mask_tb = (jnp.arange(steps)[:, None] < lengths[None, :])  # [T, B]
        dtype = self.dtype or jnp.result_type(x.dtype, self.param_dtype)
        carries = self._initial_carries(initial_state, batch, dtype)

        layer_input = x.astype(dtype)  # [B, T, D]
        finals = []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                layer_input = nn.Dropout(self.dropout, deterministic=not train)(layer_input)
            outputs = []
            for direction in range(directions):
                cell = cell_class(hidden_size=self.hidden_size, dtype=dtype, param_dtype=self.param_dtype,
                                  name=f"l{layer}" + ("_reverse" if direction else ""))
                w = cell.weights(layer_input.shape[-1])
                seq = reverse_within_lengths(layer_input, lengths) if direction else layer_input
                # The one big matmul: every step's input projection, time-major for the scan. The input
                # is transposed rather than the projection, which is G*H wide.
                x_proj_tb = cell.project(jnp.swapaxes(seq, 0, 1), w)  # [T, B, G*H]
                final, out_tb = masked_recurrence(cell.gates, w.kernel_hh, cell.inner_bias(w),
                                                  carries[layer * directions + direction], x_proj_tb, mask_tb,
                                                  self.unroll)
                out = jnp.swapaxes(out_tb, 0, 1)  # [B, T, H]
                outputs.append(reverse_within_lengths(out, lengths) if direction else out)
                finals.append(final)
            layer_input = outputs[0] if directions == 1 else jnp.concatenate(outputs, axis=-1)
        return layer_input, self._stack_finals(finals)

    def _cell_class(self) -> type[_Cell]:
        if self.cell not in CELLS:
            raise ValueError(f"Recurrent: unknown cell {self.cell!r}; use one of {', '.join(CELLS)}")
        return CELLS[self.cell]

    def _check_input(self, x) -> tuple[int, int]:
        if x.ndim != 3 or not jnp.issubdtype(x.dtype, jnp.floating):
            raise InputShapeError(
                f"Recurrent expects float inputs [B, T, D] (batch-first), got {x.dtype} {x.shape}; "
                "embed token ids first (nn.Embed) and add a feature axis to scalar sequences")
        return x.shape[0], x.shape[1]

    def _initial_carries(self, initial_state, batch: int, dtype) -> list[Carry]:
        """torch-layout initial state -> one carry per (layer, direction)."""
        count = self.num_layers * (2 if self.bidirectional else 1)
        expected = (count, batch, self.hidden_size)
        if initial_state is None:
            zeros = jnp.zeros(expected, dtype)
            initial_state = (zeros, zeros) if self.cell == "lstm" else zeros
        parts = initial_state if self.cell == "lstm" else (initial_state,)
        if self.cell == "lstm" and (not isinstance(initial_state, (tuple, list)) or len(initial_state) != 2):
            raise InputShapeError("Recurrent(cell='lstm'): initial_state must be a pair (h_0, c_0)")
        for part in parts:
            if jnp.shape(part) != expected:
                raise InputShapeError(f"Recurrent: initial state must have shape [L * dirs, B, H] = {expected}, "
                                      f"got {jnp.shape(part)}")
        if self.cell == "lstm":
            return [(initial_state[0][i].astype(dtype), initial_state[1][i].astype(dtype)) for i in range(count)]
        return [initial_state[i].astype(dtype) for i in range(count)]

    def _stack_finals(self, finals: list[Carry]):
        if self.cell == "lstm":
            return jnp.stack([h for h, _ in finals]), jnp.stack([c for _, c in finals])
        return jnp.stack(finals)
