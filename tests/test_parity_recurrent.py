"""Recurrent (RNN / GRU / LSTM, stacked, bidirectional) against torch.nn with ported weights."""
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from zoo.sequence.recurrent import Recurrent  # noqa: E402
from zoo.sequence.torch_port import recurrent_params_from_torch  # noqa: E402
from zoo.weights.convert import WeightsMismatchError  # noqa: E402

pytestmark = pytest.mark.parity

TORCH_CLASSES = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}
BATCH, STEPS, FEATURES, HIDDEN, LAYERS = 4, 9, 5, 6, 2
LENGTHS = np.array([9, 4, 1, 6])


def torch_and_zoo(cell: str):
    torch.manual_seed(0)
    net = getattr(torch.nn, TORCH_CLASSES[cell])(FEATURES, HIDDEN, num_layers=LAYERS, bidirectional=True,
                                                  batch_first=True)
    with torch.no_grad():  # wider than torch's default init, so saturation and biases are exercised
        for p in net.parameters():
            p.uniform_(-0.8, 0.8)
    params = recurrent_params_from_torch(net.state_dict(), num_layers=LAYERS, bidirectional=True)
    model = Recurrent(cell=cell, hidden_size=HIDDEN, num_layers=LAYERS, bidirectional=True)
    return net, model, {"params": params}


def as_finals(final, cell):
    return final if cell == "lstm" else (final,)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_same_outputs_and_final_states_as_torch(cell):
    net, model, variables = torch_and_zoo(cell)
    x = np.random.default_rng(0).normal(size=(BATCH, STEPS, FEATURES)).astype(np.float32)
    with torch.no_grad():
        want_out, want_final = net(torch.from_numpy(x))
    got_out, got_final = model.apply(variables, jnp.asarray(x))
    assert np.abs(np.asarray(got_out) - want_out.numpy()).max() <= 1e-5
    for got, want in zip(as_finals(got_final, cell), as_finals(want_final, cell)):
        assert got.shape == tuple(want.shape)
        assert np.abs(np.asarray(got) - want.numpy()).max() <= 1e-5


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_lengths_match_torch_packed_sequences(cell):
    net, model, variables = torch_and_zoo(cell)
    x = np.random.default_rng(1).normal(size=(BATCH, STEPS, FEATURES)).astype(np.float32)
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(LENGTHS),
                                                     batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        packed_out, want_final = net(packed)
    want_out, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=STEPS)
    got_out, got_final = model.apply(variables, jnp.asarray(x), jnp.asarray(LENGTHS))
    assert np.abs(np.asarray(got_out) - want_out.numpy()).max() <= 1e-5
    for got, want in zip(as_finals(got_final, cell), as_finals(want_final, cell)):
        assert np.abs(np.asarray(got) - want.numpy()).max() <= 1e-5


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_gradients_match_torch_packed_sequences(cell):
    """The hand-written backward pass (zoo.sequence.recurrence) against torch's autograd: weights and inputs."""
    import jax

    net, model, variables = torch_and_zoo(cell)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype(np.float32)
    out_weights = rng.normal(size=(BATCH, STEPS, 2 * HIDDEN)).astype(np.float32)

    x_torch = torch.from_numpy(x).requires_grad_(True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x_torch, torch.from_numpy(LENGTHS), batch_first=True,
                                                     enforce_sorted=False)
    packed_out, final = net(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=STEPS)
    loss = (out * torch.from_numpy(out_weights)).sum() + sum(torch.sin(f).sum() for f in as_finals(final, cell))
    loss.backward()
    want_params = recurrent_params_from_torch({k: p.grad for k, p in net.named_parameters()}, num_layers=LAYERS,
                                              bidirectional=True)

    def zoo_loss(params, x):
        out, final = model.apply({"params": params}, x, jnp.asarray(LENGTHS))
        return jnp.sum(out * out_weights) + sum(jnp.sin(f).sum() for f in as_finals(final, cell))

    got_params, got_x = jax.grad(zoo_loss, argnums=(0, 1))(variables["params"], jnp.asarray(x))
    assert np.abs(np.asarray(got_x) - x_torch.grad.numpy()).max() <= 1e-5
    for module, leaves in want_params.items():
        for name, want in leaves.items():
            got = np.asarray(got_params[module][name])
            assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max()), f"{module}/{name}"


def test_initial_state_matches_torch():
    net, model, variables = torch_and_zoo("lstm")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype(np.float32)
    h0, c0 = (rng.normal(size=(2 * LAYERS, BATCH, HIDDEN)).astype(np.float32) for _ in range(2))
    with torch.no_grad():
        want_out, (want_h, want_c) = net(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
    got_out, (got_h, got_c) = model.apply(variables, jnp.asarray(x), initial_state=(h0, c0))
    for got, want in ((got_out, want_out), (got_h, want_h), (got_c, want_c)):
        assert np.abs(np.asarray(got) - want.numpy()).max() <= 1e-5


def test_port_names_the_mismatched_keys():
    net, _, _ = torch_and_zoo("gru")
    state = {f"encoder.{k}": v.numpy() for k, v in net.state_dict().items()}
    assert set(recurrent_params_from_torch(state, LAYERS, True, prefix="encoder.")) == {
        "l0", "l0_reverse", "l1", "l1_reverse"}
    with pytest.raises(WeightsMismatchError, match="weight_ih_l1_reverse"):  # the file has more than asked for
        recurrent_params_from_torch(state, LAYERS, bidirectional=False, prefix="encoder.")
    with pytest.raises(WeightsMismatchError, match="prefix"):
        recurrent_params_from_torch(state, LAYERS, True)
    del state["encoder.weight_hh_l1"]
    with pytest.raises(WeightsMismatchError, match="missing.*encoder.weight_hh_l1"):
        recurrent_params_from_torch(state, LAYERS, True, prefix="encoder.")
