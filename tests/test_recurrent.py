"""Recurrent layers: shapes, length masking, gradients, jit, dropout, one-step cells."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo.sequence  # noqa: F401  (the package under test)
from rounding import assert_equal_up_to_rounding
from zoo.errors import InputShapeError
from zoo.sequence.recurrent import GRUCell, LSTMCell, Recurrent, RNNCell, last_real, lengths_from_tokens

CELLS = ["rnn", "gru", "lstm"]
B, T, D, H = 3, 6, 4, 5
# Roundings behind one output of a layer run in another program (another batch size, eager or jit, step by
# step): every step sums D input and H hidden products into the state it carries forward. Two bidirectional
# layers: the second reads 2H inputs.
ONE_LAYER = T * (D + H)
TWO_BIDIRECTIONAL = T * (D + H) + T * (2 * H + H)


def finals_of(final, cell):
    return list(final) if cell == "lstm" else [final]


def inputs(seed=0, shape=(B, T, D)):
    return jax.random.normal(jax.random.key(seed), shape)


def init(model, x):
    return jax.jit(model.init)(jax.random.key(0), x)  # compiled: eager init compiles each scan apart


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_shapes_follow_torch_layout(cell, layers, bidirectional):
    model = Recurrent(cell=cell, hidden_size=H, num_layers=layers, bidirectional=bidirectional)
    x = inputs()
    variables = jax.eval_shape(model.init, jax.random.key(0), x)  # shapes only: nothing compiles
    outputs, final = jax.eval_shape(model.apply, variables, x)
    dirs = 2 if bidirectional else 1
    assert outputs.shape == (B, T, H * dirs)
    for state in finals_of(final, cell):
        assert state.shape == (layers * dirs, B, H)
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    names = {f"l{k}{s}" for k in range(layers) for s in ([""] + ["_reverse"] * bidirectional)}
    assert set(variables["params"]) == names
    assert variables["params"]["l0"]["kernel_ih"].shape == (D, gates * H)
    assert variables["params"]["l0"]["kernel_hh"].shape == (H, gates * H)
    if layers > 1:
        assert variables["params"]["l1"]["kernel_ih"].shape == (H * dirs, gates * H)


@pytest.mark.parametrize("cell", CELLS)
def test_padding_changes_nothing(cell):
    """Each padded row gives the same outputs and final state as the same row run alone, unpadded;
    padded steps output zeros, whatever garbage sits there."""
    model = Recurrent(cell=cell, hidden_size=H, num_layers=2, bidirectional=True)
    x = inputs(1) * 3  # padding filled with large non-zero values: masking must ignore it
    lengths = jnp.array([T, 2, 4])
    variables = init(model, x)
    apply = jax.jit(model.apply)
    outputs, final = apply(variables, x, lengths)
    for b, length in enumerate(np.asarray(lengths)[:2]):  # two rows: one full, one padded (few compiles)
        alone_out, alone_final = apply(variables, x[b:b + 1, :length])
        # A batch of 1 is another program: equal up to rounding (states are in (-1, 1), LSTM cells a bit more).
        assert_equal_up_to_rounding(outputs[b, :length], alone_out[0], terms=TWO_BIDIRECTIONAL, scale=1.0)
        assert np.all(np.asarray(outputs[b, length:]) == 0)
        for padded, alone in zip(finals_of(final, cell), finals_of(alone_final, cell)):
            assert_equal_up_to_rounding(padded[:, b], alone[:, 0], terms=TWO_BIDIRECTIONAL,
                                        scale=max(1.0, float(np.abs(alone).max())))


def test_zero_length_keeps_the_initial_state():
    model = Recurrent(cell="gru", hidden_size=H, bidirectional=True)
    x = inputs()
    h0 = jax.random.normal(jax.random.key(3), (2, B, H))
    variables = init(model, x)
    outputs, h_n = jax.jit(model.apply)(variables, x, jnp.array([0, 3, T]), initial_state=h0)
    np.testing.assert_array_equal(h_n[:, 0], h0[:, 0])
    assert not np.allclose(h_n[:, 1], h0[:, 1])
    assert np.all(np.asarray(outputs[0]) == 0)


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_are_finite_and_skip_padding(cell):
    model = Recurrent(cell=cell, hidden_size=H, bidirectional=True)
    x, lengths = inputs(), jnp.array([T, 3, 1])
    variables = init(model, x)

    def loss(params, x):
        outputs, final = model.apply({"params": params}, x, lengths)
        return jnp.sum(outputs ** 2) + sum(jnp.sum(s ** 2) for s in finals_of(final, cell))

    grad_params, grad_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(variables["params"], x)
    leaves = jax.tree.leaves(grad_params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert all(float(jnp.abs(g).sum()) > 0 for g in leaves)
    assert float(jnp.abs(grad_x[1, 3:]).max()) == 0  # padded inputs do not influence anything
    assert float(jnp.abs(grad_x[1, :3]).max()) > 0


@pytest.mark.parametrize("cell", CELLS)
def test_hand_written_backward_equals_autodiff_of_the_loop(cell, monkeypatch):
    """zoo.sequence.recurrence's custom VJP against JAX differentiating the same forward loop, with masking,
    two bidirectional layers and a given initial state; every parameter, the input and the initial state."""
    from zoo.sequence import recurrence, recurrent

    model = Recurrent(cell=cell, hidden_size=H, num_layers=2, bidirectional=True)
    x, lengths = inputs(), jnp.array([T, 3, 0])
    variables = init(model, x)
    h0 = inputs(1, (4, B, H))
    initial = (h0, 0.5 * h0) if cell == "lstm" else h0
    weights = inputs(2, (B, T, 2 * H))

    def loss(params, x, initial):
        outputs, final = model.apply({"params": params}, x, lengths, initial)
        return jnp.sum(outputs * weights) + sum(jnp.sum(jnp.sin(s)) for s in finals_of(final, cell))

    def autodiff_loop(gates, kernel_hh, inner_bias, carry0, x_proj_tb, mask_tb, unroll=1):
        final, outputs, _ = recurrence._forward(gates, kernel_hh, inner_bias, carry0, x_proj_tb, mask_tb, unroll,
                                                save=False)
        return final, outputs

    got = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(variables["params"], x, initial)
    monkeypatch.setattr(recurrent, "masked_recurrence", autodiff_loop)
    want = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(variables["params"], x, initial)
    # Two programs for the same maths: a weight's gradient sums over B examples and T steps what flows back
    # through both layers, each step of which sums the products of the forward and backward passes.
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert_equal_up_to_rounding(g, w, terms=B * TWO_BIDIRECTIONAL * 2)


def test_jit_gives_the_same_result():
    model = Recurrent(cell="lstm", hidden_size=H, bidirectional=True)
    x, lengths = inputs(), jnp.array([T, 2, 5])
    variables = init(model, x)
    eager = model.apply(variables, x, lengths)
    jitted = jax.jit(lambda v, x, n: model.apply(v, x, n))(variables, x, lengths)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):  # op by op vs fused: up to rounding
        assert_equal_up_to_rounding(a, b, terms=ONE_LAYER, scale=max(1.0, float(np.abs(b).max())))


def test_dropout_between_layers_only_in_training():
    x = inputs()
    model = Recurrent(cell="gru", hidden_size=H, num_layers=2, dropout=0.5)
    variables = init(model, x)

    compiled = {}

    def run(module, train, seed=0):
        if (module, train) not in compiled:
            compiled[module, train] = jax.jit(lambda v, x, key: module.apply(v, x, train=train,
                                                                              rngs={"dropout": key})[0])
        return compiled[module, train](variables, x, jax.random.key(seed))

    plain = run(Recurrent(cell="gru", hidden_size=H, num_layers=2), train=False)
    np.testing.assert_array_equal(run(model, train=False), plain)  # eval: no dropout
    train_a, train_b = run(model, True, 1), run(model, True, 2)
    assert not np.allclose(train_a, plain) and not np.allclose(train_a, train_b)
    one_layer = Recurrent(cell="gru", hidden_size=H, num_layers=1, dropout=0.5)  # nothing between layers
    variables = {"params": {"l0": variables["params"]["l0"]}}
    # Train and eval mode are two programs, so equal up to rounding; a dropped unit would differ by its value.
    assert_equal_up_to_rounding(run(one_layer, True, 1), run(one_layer, False), terms=ONE_LAYER, scale=1.0)


@pytest.mark.parametrize("cell_class,name", [(RNNCell, "rnn"), (GRUCell, "gru"), (LSTMCell, "lstm")])
def test_cells_step_one_token_at_a_time_with_the_layers_params(cell_class, name):
    """A decoder stepping a cell by hand gets exactly what the scanned layer computes."""
    x = inputs()
    layer = Recurrent(cell=name, hidden_size=H)
    variables = init(layer, x)
    outputs, _ = jax.jit(layer.apply)(variables, x)
    cell = cell_class(hidden_size=H)
    carry = cell.initial_carry(B)
    step = jax.jit(cell.apply)
    for t in range(T):  # one step per call against the scanned program: equal up to rounding
        carry, h = step({"params": variables["params"]["l0"]}, carry, x[:, t])
        assert_equal_up_to_rounding(h, outputs[:, t], terms=ONE_LAYER, scale=1.0)
    assert jax.tree.structure(carry) == jax.tree.structure(cell.initial_carry(B))


def test_bfloat16_compute_with_float32_params():
    model = Recurrent(cell="lstm", hidden_size=H, dtype=jnp.bfloat16)
    x = inputs()
    variables = init(model, x)
    outputs, (h_n, c_n) = jax.jit(model.apply)(variables, x, jnp.array([T, 2, 3]))
    assert outputs.dtype == jnp.bfloat16 and h_n.dtype == jnp.bfloat16
    assert variables["params"]["l0"]["kernel_ih"].dtype == jnp.float32
    full = jax.jit(Recurrent(cell="lstm", hidden_size=H).apply)(variables, x, jnp.array([T, 2, 3]))[0]
    np.testing.assert_allclose(outputs.astype(jnp.float32), full, atol=0.05)


def test_token_helpers():
    tokens = jnp.array([[5, 6, 7, 0, 0], [4, 0, 0, 0, 0], [8, 9, 10, 11, 12]])
    lengths = lengths_from_tokens(tokens)
    np.testing.assert_array_equal(lengths, [3, 1, 5])
    assert lengths.dtype == jnp.int32
    outputs = jnp.arange(3 * 5 * 2, dtype=jnp.float32).reshape(3, 5, 2)
    np.testing.assert_array_equal(last_real(outputs, lengths), outputs[jnp.arange(3), jnp.array([2, 0, 4])])


def test_bad_inputs_name_the_fix():
    model = Recurrent(cell="lstm", hidden_size=H)
    x = inputs()
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    model = model.bind(variables)  # the checks run before any computation
    with pytest.raises(InputShapeError, match=r"\[B, T, D\]"):
        model(x[:, :, 0])
    with pytest.raises(InputShapeError, match="embed"):
        model(jnp.ones((B, T, D), jnp.int32))
    with pytest.raises(InputShapeError, match="pair"):
        model(x, initial_state=jnp.zeros((1, B, H)))
    with pytest.raises(InputShapeError, match="lengths"):
        model(x, jnp.array([1, 2]))
    with pytest.raises(ValueError, match="rnn, gru, lstm"):
        jax.eval_shape(Recurrent(cell="elman").init, jax.random.key(0), x)
