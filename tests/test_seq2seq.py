"""Seq2seq: attention, the encoder-decoder, greedy / beam decoding, and the transduction data sets."""
from __future__ import annotations

import datetime

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import zoo
from helpers import made_once
from rounding import assert_equal_up_to_rounding
from train.data import transduction
from zoo.errors import InputShapeError
from zoo.registry import example_batch, model_card
from zoo.sequence.attention import BahdanauAttention, LuongAttention
from zoo.sequence.decode import beam_search, exact_matches, greedy_decode, sequence_log_prob
from zoo.sequence.seq2seq import Seq2Seq
from zoo.text import EOS_ID

SEQ2SEQ_MODELS = ("seq2seq_gru", "seq2seq_gru_attention", "seq2seq_lstm_attention")
TINY = dict(src_vocab_size=24, tgt_vocab_size=24, embed_dim=16, hidden_size=32, cell="gru", attention="bahdanau")
PLAIN = dict(TINY, attention="none", hidden_size=16)  # the cheapest to compile, where attention does not matter
MAX_LENGTH = 14  # reverse targets: up to 12 symbols + <eos>, and one step to spare
# Roundings behind one decoded score when two programs compute it (teacher-forced pass against step by step,
# beam against greedy): every decoder step sums embedding, attention context (both encoder directions) and
# hidden products plus the head's, and carries its state on; the encoder adds as many per source step.
TINY_DECODE_STEP = 16 + 2 * 32 + 32 + 32
TINY_DECODE = 2 * MAX_LENGTH * TINY_DECODE_STEP


def _init(model, src, targets, seed=0):
    return jax.jit(model.init)(jax.random.key(seed), src, targets)  # one compile, not op-by-op


@pytest.fixture(scope="module")
def reverse():
    return transduction.load("reverse")


@pytest.fixture(scope="module")
def test_batch(reverse):
    return reverse.split("test").take(np.arange(96))


# --- attention -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("attention", [BahdanauAttention(units=8), LuongAttention("general"), LuongAttention("dot")])
def test_attention_weights_sum_to_one_and_ignore_padding(attention):
    k_query, k_memory, k_junk = jax.random.split(jax.random.key(0), 3)
    query = jax.random.normal(k_query, (3, 6))
    memory = jax.random.normal(k_memory, (3, 5, 6))
    mask = jnp.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)

    def full(module, query, memory, mask):
        return module(query, memory, module.project_keys(memory), mask)

    variables = attention.init(jax.random.key(1), query, memory, mask, method=full)

    def attend(memory):
        return attention.apply(variables, query, memory, mask, method=full)

    context, weights = attend(memory)
    assert context.shape == (3, 6) and weights.shape == (3, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    assert np.all(np.asarray(weights)[~np.asarray(mask)] == 0.0)  # exactly zero, not merely small
    np.testing.assert_allclose(weights[2], [1, 0, 0, 0, 0])  # one real position takes all the weight
    # Whatever sits in the padding changes nothing.
    junk = jnp.where(mask[..., None], memory, 100 * jax.random.normal(k_junk, memory.shape))
    context_junk, weights_junk = attend(junk)
    np.testing.assert_allclose(context_junk, context, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights_junk, weights, rtol=1e-5, atol=1e-7)


def test_luong_dot_needs_equal_widths():
    query, memory, mask = jnp.ones((2, 4)), jnp.ones((2, 3, 6)), jnp.ones((2, 3), bool)
    with pytest.raises(InputShapeError, match="general"):
        LuongAttention("dot").init(jax.random.key(0), query, memory, memory, mask)


# --- the model -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SEQ2SEQ_MODELS)
def test_registered_models_take_sources_and_targets(name):
    card = model_card(name)
    assert card.task == "seq2seq" and card.input_dtype == "int32" and card.reads_targets
    x, kwargs = example_batch(card, 2)
    model = zoo.create(name)
    # Shapes only (traced, not compiled): tests/test_registry.py runs every registered model for real.
    logits, variables = jax.eval_shape(model.init_with_output, jax.random.key(0), x, kwargs["targets"])
    assert logits.shape == (2, *card.example_input_shape, card.defaults["tgt_vocab_size"])
    assert variables["params"]["embed"]["embedding"].shape == (card.defaults["src_vocab_size"], model.embed_dim)


@pytest.mark.parametrize("fields", [dict(TINY, bidirectional=True),
                                    dict(TINY, cell="lstm", attention="luong", num_layers=2, bidirectional=True)])
def test_decode_step_repeats_the_teacher_forced_pass(fields):
    """Stepping with encode + decode_step gives the logits the training pass computes, for every variant."""
    model = Seq2Seq(**fields)
    src = jnp.array([[5, 6, 7, 8, 0], [9, 4, 0, 0, 0]], jnp.int32)
    targets = jnp.array([[8, 7, 6, 5, EOS_ID], [4, 9, EOS_ID, 0, 0]], jnp.int32)
    variables = _init(model, src, targets)

    @jax.jit
    def both(variables):
        encoded, carry = model.apply(variables, src, method="encode")
        token, stepped = jnp.full((2,), 2, jnp.int32), []
        for t in range(targets.shape[1]):
            carry, step_logits = model.apply(variables, encoded, carry, token, method="decode_step")
            stepped.append(step_logits)
            token = targets[:, t]
        return jnp.stack(stepped, 1), model.apply(variables, src, targets)

    stepped, logits = both(variables)
    # Up to two layers, 5 source and 5 target steps: equal up to rounding.
    assert_equal_up_to_rounding(stepped, logits, terms=2 * 2 * 5 * TINY_DECODE_STEP)


def test_bad_inputs_name_the_fix():
    model = Seq2Seq(**TINY)
    with pytest.raises(InputShapeError, match="token ids"):
        model.init(jax.random.key(0), jnp.ones((2, 5)), jnp.ones((2, 4), jnp.int32))
    with pytest.raises(ValueError, match="attention"):
        Seq2Seq(**{**TINY, "attention": "self"}).init(jax.random.key(0), jnp.ones((2, 5), jnp.int32))


def test_teacher_forcing_ratio_only_changes_training():
    src = jax.random.randint(jax.random.key(1), (8, 10), 4, 24)
    targets = jax.random.randint(jax.random.key(2), (8, 10), 4, 24)
    always, never = Seq2Seq(**PLAIN, teacher_forcing=1.0), Seq2Seq(**PLAIN, teacher_forcing=0.0)
    half = Seq2Seq(**PLAIN, teacher_forcing=0.5)
    variables = _init(always, src, targets)

    @jax.jit
    def outputs(variables):
        def run(model, train, seed=3):
            return model.apply(variables, src, targets, train=train, rngs={"dropout": jax.random.key(seed)})

        return {"eval_always": run(always, False), "eval_never": run(never, False),
                "train_always": run(always, True), "train_never": run(never, True),
                "half_a": run(half, True, 4), "half_b": run(half, True, 5), "free": always.apply(variables, src)}

    out = outputs(variables)
    np.testing.assert_array_equal(out["eval_always"], out["eval_never"])
    # Training and evaluation trace different code for the same maths, so they agree up to rounding: 10 source
    # and 10 target steps of 16 embedding and 16 hidden products each, then the 16-wide head.
    same = dict(terms=2 * 10 * (16 + 16) + 16)
    # No dropout here, so full teacher forcing trains on exactly the evaluation pass ...
    assert_equal_up_to_rounding(out["train_always"], out["eval_always"], **same)
    # ... while ratio 0 feeds back the model's own predictions (all but the first step differ).
    assert_equal_up_to_rounding(out["train_never"][:, 0], out["train_always"][:, 0], **same)
    assert not np.allclose(out["train_never"][:, 1:], out["train_always"][:, 1:])
    # Without targets the model runs free the same way (targets and sources have the same length here).
    assert_equal_up_to_rounding(out["free"], out["train_never"], **same)
    # The coins come from the 'dropout' rng: another key, other choices.
    assert not np.allclose(out["half_a"], out["half_b"])


def test_frozen_source_embedding_gets_no_gradient():
    src = jax.random.randint(jax.random.key(1), (4, 6), 4, 24)
    model = Seq2Seq(**PLAIN, freeze_embeddings=True)
    variables = _init(model, src, src)
    grads = jax.jit(jax.grad(lambda p: model.apply({"params": p}, src, src).sum()))(variables["params"])
    assert not np.any(np.asarray(grads["embed"]["embedding"]))
    assert np.any(np.asarray(grads["decoder"]["embed"]["embedding"]))


# --- decoding --------------------------------------------------------------------------------------------

def _train_tiny(reverse, steps: int, seed: int = 0):
    """A few hundred Adam steps of a tiny attention model on `reverse`: (model, variables, loss history)."""
    model = Seq2Seq(**TINY)
    x, y = reverse.split("train").take(np.arange(steps * 64))
    variables = _init(model, jnp.asarray(x[:2]), jnp.asarray(y[:2]), seed)
    tx = optax.adam(1e-2)
    opt_state = tx.init(variables["params"])

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(params):
            logits = model.apply({"params": params}, x, y, train=True)
            losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
            weights = (y != 0).astype(losses.dtype)
            return (losses * weights).sum() / weights.sum()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    params, losses = variables["params"], []
    for i in range(steps):
        params, opt_state, loss = step(params, opt_state, x[i * 64:(i + 1) * 64], y[i * 64:(i + 1) * 64])
        losses.append(float(loss))
    return model, {"params": params}, losses


@pytest.fixture(scope="module")
def untrained():
    model = Seq2Seq(**TINY)
    src = jnp.ones((2, 12), jnp.int32)
    return model, _init(model, src, src, seed=7)


@pytest.fixture(scope="module")
def trained(reverse, tmp_path_factory):
    """The tiny model after 300 steps, trained once per test run and shared by the xdist workers."""

    def train_and_save(folder):
        _, variables, losses = _train_tiny(reverse, steps=300)
        flat = {jax.tree_util.keystr(k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(variables)}
        np.savez(folder / "variables.npz", losses=np.asarray(losses), **flat)

    with np.load(made_once(tmp_path_factory, "seq2seq-tiny-trained", train_and_save) / "variables.npz") as saved:
        losses = saved["losses"].tolist()
        template = _init(Seq2Seq(**TINY), jnp.ones((2, 12), jnp.int32), jnp.ones((2, 12), jnp.int32))
        leaves = [jnp.asarray(saved[jax.tree_util.keystr(k)]) for k, _ in jax.tree_util.tree_leaves_with_path(template)]
    return Seq2Seq(**TINY), jax.tree.unflatten(jax.tree.structure(template), leaves), losses


def _token_accuracy(tokens, targets):
    """Position-wise agreement of decoded outputs with the targets, over the targets' real tokens."""
    tokens = np.asarray(tokens)[:, :targets.shape[1]]
    real = targets != 0
    return float(((tokens == targets) & real).sum() / real.sum())


def test_training_a_little_improves_decoding(untrained, trained, test_batch):
    x, y = test_batch
    model, variables, losses = trained
    before = _token_accuracy(greedy_decode(model, untrained[1], x, MAX_LENGTH).tokens, y)
    after = _token_accuracy(greedy_decode(model, variables, x, MAX_LENGTH).tokens, y)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    assert after > before + 0.3, (before, after)


def logit_scale(model, variables, x, tokens) -> float:
    """The largest |logit| behind decoded tokens. log_softmax rounds at the logits' scale, which can be far
    larger than the log-probability of a confident model's tokens."""
    return float(jnp.abs(model.apply(variables, x, tokens)).max())


def assert_scores_are_log_probs(model, variables, x, decoded):
    """A decoder's scores are log p(tokens | x) of the teacher-forced pass: another program for the same sums,
    so equal up to their rounding, on the scale of the logits."""
    assert_equal_up_to_rounding(decoded.log_probs, sequence_log_prob(model, variables, x, decoded.tokens),
                                terms=TINY_DECODE, scale=logit_scale(model, variables, x, decoded.tokens))


@pytest.mark.parametrize("which", ["untrained", "trained"])
def test_beam_search_never_scores_below_greedy(which, request, test_batch):
    model, variables = request.getfixturevalue(which)[:2]
    x, _ = test_batch
    greedy = greedy_decode(model, variables, x, MAX_LENGTH)
    beam = beam_search(model, variables, x, 4, MAX_LENGTH, length_penalty=0.0)
    assert np.all(np.asarray(beam.log_probs) >= np.asarray(greedy.log_probs) - 1e-4)
    # The returned scores are the model's probabilities of the returned tokens.
    assert_scores_are_log_probs(model, variables, x, beam)
    assert_scores_are_log_probs(model, variables, x, greedy)


def test_beam_width_one_is_greedy(untrained, trained, test_batch):
    x, _ = test_batch
    for model, variables in (untrained, trained[:2]):
        greedy = greedy_decode(model, variables, x, MAX_LENGTH)
        beam = beam_search(model, variables, x, 1, MAX_LENGTH, include_greedy=False)
        np.testing.assert_array_equal(beam.tokens, greedy.tokens)
        assert_equal_up_to_rounding(beam.log_probs, greedy.log_probs, terms=TINY_DECODE,
                                    scale=logit_scale(model, variables, x, greedy.tokens))  # two programs


def test_decoding_stops_at_eos(untrained, test_batch):
    x, _ = test_batch
    model, variables = untrained
    # Make <eos> by far the likeliest first token, while the untrained rest still wanders.
    params = jax.tree.map(lambda p: p, variables["params"])
    params["decoder"]["head"]["bias"] = params["decoder"]["head"]["bias"].at[EOS_ID].set(30.0)
    for decoded in (greedy_decode(model, {"params": params}, x, MAX_LENGTH),
                    beam_search(model, {"params": params}, x, 4, MAX_LENGTH)):
        tokens = np.asarray(decoded.tokens)
        assert np.all(tokens[:, 0] == EOS_ID) and not tokens[:, 1:].any()
        assert_scores_are_log_probs(model, {"params": params}, x, decoded)


def test_trained_outputs_end_with_one_eos_then_padding(trained, test_batch):
    model, variables, _ = trained
    x, _ = test_batch
    for decoded in (greedy_decode(model, variables, x, MAX_LENGTH), beam_search(model, variables, x, 4, MAX_LENGTH)):
        tokens = np.asarray(decoded.tokens)
        for row in tokens:
            ends = np.flatnonzero(row == EOS_ID)
            if len(ends):
                assert len(ends) == 1 and not row[ends[0] + 1:].any()
                assert np.all(row[:ends[0]] >= 4)  # real symbols only before it
    assert (tokens == EOS_ID).any(axis=1).mean() > 0.9  # a little training already learns to stop


def test_exact_matches_compares_through_eos():
    targets = np.array([[5, 6, EOS_ID, 0], [5, 6, EOS_ID, 0], [5, 6, EOS_ID, 0], [5, 6, EOS_ID, 0]])
    tokens = np.array([[5, 6, EOS_ID, 0, 0], [5, 6, 7, EOS_ID, 0], [5, EOS_ID, 0, 0, 0], [5, 6, 0, 0, 0]])
    np.testing.assert_array_equal(exact_matches(tokens, targets), [True, False, False, False])


# --- data ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["reverse", "sort", "dates"])
def test_transduction_sets_are_deterministic_disjoint_and_correct(name):
    first = transduction.load(name)
    transduction._symbol_task.cache_clear()
    transduction._dates.cache_clear()
    again = transduction.load(name)
    assert first.task == "seq2seq" and first.num_classes == len(first.codec.vocab)
    assert {k: len(v) for k, v in first.splits.items()} == transduction.SIZES
    codec = first.codec
    for split in first.splits:
        np.testing.assert_array_equal(first.split(split).x, again.split(split).x)
        np.testing.assert_array_equal(first.split(split).y, again.split(split).y)
        x, y = first.split(split).take(np.arange(len(first.split(split))))
        assert x.dtype == np.int32 and y.dtype == np.int32
        assert np.all((y == EOS_ID).sum(1) == 1)  # every target ends with exactly one <eos>
    train_sources = {codec.decode(row) for row in first.split("train").x}
    for split in ("validation", "test"):
        assert not train_sources & {codec.decode(row) for row in first.split(split).x}
    x, y = first.split("test").take(np.arange(200))
    for source, target in zip(x, y):
        source, target = codec.decode(source), codec.decode(target)
        if name == "reverse":
            assert target == source[::-1]
        elif name == "sort":
            assert target == "".join(sorted(source))
        else:
            datetime.date.fromisoformat(target)  # a valid ISO date
            assert target[:4] in source or target[2:4] in source  # the year, in 4 or 2 digits
    if name == "dates":  # whole dates held out, not just their spellings
        train_dates = {codec.decode(row) for row in first.split("train").y}
        assert not train_dates & {codec.decode(row) for row in first.split("test").y}


def test_registered_sets_load_by_name():
    from train.data import load_dataset

    data = load_dataset("dates")
    assert data.task == "seq2seq" and set(data.splits) == {"train", "validation", "test"}
    assert len(data.split("validation")) == transduction.SIZES["validation"]  # shipped, not carved from train


def test_a_tfds_translation_set_trains_and_reports_exact_match(tmp_path):
    """The online path (e.g. ted_hrlr_translate) end to end, on TFDS's generated mock records."""
    tfds = pytest.importorskip("tensorflow_datasets")
    from conftest import quick
    from train.loop import train_and_evaluate

    with tfds.testing.mock_data(num_examples=16):
        config = quick("seq2seq_gru_attention", dataset="tfds:ted_hrlr_translate/pt_to_en", epochs=1, batch_size=8,
                       min_freq=1, max_length=8, model_overrides={"hidden_size": 8, "embed_dim": 8})
        summary = train_and_evaluate(config, tmp_path).summary
    assert np.isfinite(summary["history"][-1]["train_loss"]) and 0.0 <= summary["test_exact_match"] <= 1.0
    assert (tmp_path / "codec.json").is_file()


# --- accuracy (slow) -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_reverse_with_attention_reaches_exact_match(tmp_path):
    from conftest import quick
    from train.loop import train_and_evaluate

    result = train_and_evaluate(quick("seq2seq_gru_attention", dataset="reverse"), tmp_path)
    x, y = transduction.load("reverse").split("test").take(np.arange(2000))
    variables = result.state.variables
    greedy = greedy_decode(result.model, variables, x, MAX_LENGTH)
    beam = beam_search(result.model, variables, x, 5, MAX_LENGTH)
    assert float(np.mean(exact_matches(greedy.tokens, y))) >= 0.99
    assert float(np.mean(exact_matches(beam.tokens, y))) >= 0.99
