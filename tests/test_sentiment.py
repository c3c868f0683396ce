"""Sentiment classifiers (zoo.sequence.sentiment): padding-blind outputs, last-real-state recurrent heads,
frozen embeddings, attention weights, and training through the real loop on the fine-food reviews."""
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo
import zoo.sequence  # noqa: F401  (registers the sequence family)
from rounding import assert_equal_up_to_rounding
from zoo.errors import InputShapeError
from zoo.sequence.sentiment import AttentionPooling, attention_weights

ROOT = Path(__file__).resolve().parents[1]
TEXT_DATA = ROOT.parent / "shared" / "data" / "text"
MODELS = ["sentiment_bag", "sentiment_concat", "sentiment_cnn", "sentiment_rnn", "sentiment_gru",
          "sentiment_lstm", "sentiment_attention"]
RECURRENT = ["sentiment_rnn", "sentiment_gru", "sentiment_lstm"]
VOCAB = 50
# Variants whose padding handling differs from the card's defaults.
VARIANTS = [(name, {}) for name in MODELS] + [
    ("sentiment_bag", {"reduce": "mean"}),
    ("sentiment_lstm", {"bidirectional": True, "num_layers": 2}),
    ("sentiment_gru", {"bidirectional": True}),
    ("sentiment_attention", {"recurrent": "gru", "bidirectional": True}),
]


# Tiny widths: the behaviours under test do not depend on size, and small models compile fast.
TINY = {"embed_dim": 8, "mlp": (8,)}
TINY_BY_MODEL = {"sentiment_cnn": {"features": 4}, "sentiment_attention": {"attention_dim": 8, "hidden_size": 8},
                 **{name: {"hidden_size": 8} for name in ["sentiment_rnn", "sentiment_gru", "sentiment_lstm"]}}


# Roundings behind one logit when another input length or batch size makes another program: at most two
# bidirectional recurrent layers over 16 steps, each step summing 16 inputs and 8 hidden products (the conv
# and attention variants sum fewer), then the 8-wide MLP and the classifier.
ROUNDINGS = 2 * 16 * (16 + 8) + 8 + 8


def small(name, **fields):
    return zoo.create(name, vocab_size=VOCAB, **{**TINY, **TINY_BY_MODEL.get(name, {}), **fields})


def init(model, x):
    return jax.jit(model.init)(jax.random.key(0), x)


def forward(model):
    """model.apply, compiled once per input shape (faster than op-by-op for the recurrent scans)."""
    return jax.jit(model.apply, static_argnames="train")


def tokens(lengths, steps, seed=0):
    """Random real token ids [B, steps] (>= 4), right-padded with 0 after each length."""
    x = np.random.default_rng(seed).integers(4, VOCAB, (len(lengths), steps))
    x[np.arange(steps)[None, :] >= np.asarray(lengths)[:, None]] = 0
    return jnp.asarray(x, jnp.int32)


def other_token(token) -> int:
    """A real token id different from `token`."""
    return 4 + (int(token) - 4 + 1) % (VOCAB - 4)


@pytest.fixture(scope="module")
def text_data() -> Path:
    if not (TEXT_DATA / "fine_foods_train.csv").is_file():
        pytest.skip(f"fine-food reviews not present at {TEXT_DATA} (the project's shared data folder)")
    return TEXT_DATA


def test_all_sentiment_models_are_registered_for_fine_foods():
    for name in MODELS:
        card = zoo.model_card(name)
        assert (card.family, card.task, card.input_dtype, card.default_dataset) == (
            "sequence", "classification", "int32", "fine_foods")
        assert card.defaults["vocab_size"] > VOCAB and card.recipe["embeddings"] == "glove"
        assert 0.658 < card.reference.value <= 1 and "sentiment_food_reviews" in card.reference.source
        x = tokens([5], 8)
        params = jax.eval_shape(zoo.create(name, vocab_size=VOCAB).init, jax.random.key(0), x)["params"]
        assert set(card.head) <= set(params), f"{name}: head {card.head} not in params {list(params)}"
        assert "embed" in params  # where the loop puts GloVe rows


@pytest.mark.parametrize("name,fields", VARIANTS, ids=[f"{n}-{'-'.join(map(str, f.values())) or 'default'}"
                                                       for n, f in VARIANTS])
def test_extra_padding_leaves_the_logits_unchanged(name, fields):
    model = small(name, num_classes=3, **fields)
    x = tokens([9, 4, 1], 9)  # one full row, two padded ones
    variables = init(model, x)
    apply = forward(model)
    logits = apply(variables, x)
    assert logits.shape == (3, 3) and logits.dtype == jnp.float32
    padded = jnp.pad(x, ((0, 0), (0, 7)))
    assert_equal_up_to_rounding(apply(variables, padded), logits, terms=ROUNDINGS)
    # The shortest row alone, cut to its own length, gives its row of the batch.
    assert_equal_up_to_rounding(apply(variables, x[2:, :1])[0], logits[2], terms=ROUNDINGS,
                                scale=float(jnp.abs(logits).max()))


@pytest.mark.parametrize("name", RECURRENT)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_models_classify_from_the_last_real_state(name, bidirectional):
    model = small(name, bidirectional=bidirectional)
    x = tokens([6, 6], 10)
    variables = init(model, x)
    apply = forward(model)
    logits = apply(variables, x)
    # The last real token reaches the classifier (a model reading the state at step T - 1 of the
    # padded batch would see only padding after it) ...
    changed_last = apply(variables, x.at[0, 5].set(other_token(x[0, 5])))
    assert not np.allclose(changed_last[0], logits[0], atol=1e-6)
    np.testing.assert_allclose(changed_last[1], logits[1], atol=1e-6)
    # ... and so does the first one (through the state, or directly for the backward direction).
    assert not np.allclose(apply(variables, x.at[0, 0].set(other_token(x[0, 0])))[0], logits[0], atol=1e-6)
    # Row 0 alone without its padding is the same review: same logits, up to rounding (another program).
    assert_equal_up_to_rounding(apply(variables, x[:1, :6])[0], logits[0], terms=ROUNDINGS,
                                scale=float(jnp.abs(logits).max()))


# The embedding lookup is one shared method; one word-level and one recurrent model cover it.
@pytest.mark.parametrize("name", ["sentiment_bag", "sentiment_gru"])
def test_freeze_embeddings_stops_only_the_embedding_gradient(name):
    x = tokens([7, 3], 7)
    y = jnp.array([0, 1])

    def grads(freeze):
        model = small(name, freeze_embeddings=freeze)
        params = init(model, x)["params"]

        def loss(p):
            logits = model.apply({"params": p}, x)
            return -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1).sum()

        return jax.jit(jax.grad(loss))(params)

    frozen, trained = grads(True), grads(False)
    assert float(jnp.abs(frozen["embed"]["embedding"]).max()) == 0.0
    assert float(jnp.abs(trained["embed"]["embedding"]).max()) > 0.0
    assert float(jnp.abs(frozen["classifier"]["kernel"]).max()) > 0.0  # the rest still trains
    # Padding's row never gets a gradient, frozen or not: padding is not part of any review.
    assert float(jnp.abs(trained["embed"]["embedding"][0]).max()) == 0.0


@pytest.mark.parametrize("recurrent", ["", "gru"])
def test_attention_weights_sum_to_one_over_real_tokens(recurrent):
    model = small("sentiment_attention", recurrent=recurrent)
    assert isinstance(model, AttentionPooling)
    lengths = [8, 5, 1]
    x = tokens(lengths, 8)
    weights = attention_weights(model, init(model, x), x)  # [B, T]
    assert weights.shape == (3, 8)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    padding = np.arange(8)[None, :] >= np.asarray(lengths)[:, None]
    assert float(jnp.abs(weights[padding]).max()) == 0.0
    assert float(weights[2, 0]) == pytest.approx(1.0)  # one token takes all the weight
    assert bool((weights[~padding] > 0).all())


# The models with a reduction that an all-padding row could turn into 0/0 or -inf.
@pytest.mark.parametrize("name,fields", [("sentiment_bag", {"reduce": "mean"}), ("sentiment_cnn", {}),
                                         ("sentiment_lstm", {"bidirectional": True}), ("sentiment_attention", {})])
def test_an_empty_review_gives_finite_logits(name, fields):
    x = jnp.zeros((2, 6), jnp.int32).at[1, :3].set(7)
    model = small(name, **fields)
    assert bool(jnp.isfinite(forward(model)(init(model, x), x)).all())


def test_concat_reads_only_the_first_max_length_tokens():
    model = small("sentiment_concat", max_length=6)
    x = tokens([10, 3], 10)
    variables = init(model, x)
    logits = model.apply(variables, x)
    np.testing.assert_allclose(model.apply(variables, x.at[0, 6:].set(5)), logits, atol=1e-6)  # after the cut
    assert not np.allclose(model.apply(variables, x.at[0, 5].set(other_token(x[0, 5])))[0], logits[0], atol=1e-6)
    # Shorter inputs are zero-padded inside, so the parameter shapes do not depend on T.
    assert model.apply(variables, x[:, :2]).shape == (2, 2)


def test_dropout_is_active_only_in_training():
    model = small("sentiment_gru", dropout=0.5)
    x = tokens([6, 6, 6, 6], 6)
    variables = init(model, x)
    apply = forward(model)
    np.testing.assert_array_equal(apply(variables, x), apply(variables, x))
    trained = [apply(variables, x, train=True, rngs={"dropout": jax.random.key(k)}) for k in (1, 2)]
    assert not np.allclose(trained[0], trained[1])


def test_float_inputs_are_refused_with_the_fix():
    model = small("sentiment_bag")
    with pytest.raises(InputShapeError, match="token ids"):
        model.init(jax.random.key(0), jnp.zeros((2, 5), jnp.float32))


def test_a_few_hundred_reviews_train_through_the_loop(text_data, tmp_path):
    from train import config_for, train_and_evaluate

    config = config_for("sentiment_bag", dataset="fine_foods", data_dir=str(text_data), epochs=2, limit_train=400,
                        limit_test=200, batch_size=50, progress=False, plots=False, embeddings="glove-6b-50d",
                        freeze_embeddings=True)
    result = train_and_evaluate(config, tmp_path)
    summary = result.summary
    assert summary["dataset"] == "fine_foods" and summary["epochs"] == 2
    losses = [e["train_loss"] for e in summary["history"]]
    assert all(np.isfinite(losses)) and losses[1] < losses[0]
    assert summary["embedding_coverage"] > 0.8  # of the training vocabulary; typos and rare names lack vectors
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert json.loads((tmp_path / "summary.json").read_text())["model"] == "sentiment_bag"
    # Frozen GloVe rows came through unchanged: the loop's table is GloVe's, not the random init.
    table = np.asarray(result.state.params["embed"]["embedding"])
    from zoo.text.vectors import load_glove_6b_50d

    glove = load_glove_6b_50d()
    assert any(np.allclose(row, glove["the"], atol=1e-6) for row in table[4:40])


# --- accuracy on the real reviews (slow: minutes per model on 2 CPU cores) -------------------------------

_ACCURACY: dict[str, float] = {}


def _test_accuracy(name: str, text_data: Path, workdir: Path) -> float:
    """The card's recipe through the real loop, scored on the 1,000 test reviews (cached per session)."""
    if name not in _ACCURACY:
        from train import config_for, train_and_evaluate

        config = config_for(name, dataset="fine_foods", data_dir=str(text_data), progress=False, plots=False)
        _ACCURACY[name] = train_and_evaluate(config, workdir / name).summary["test_accuracy"]
    return _ACCURACY[name]


# Below the bar with the best recipes found so far (see the comments at their cards).
_BELOW_BAR = {"sentiment_rnn": "measured 0.780 / 0.761 / 0.763 over seeds 0-2: the tanh RNN forgets most of a "
                                "long review"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=_BELOW_BAR[n], strict=False))
                                  if n in _BELOW_BAR else n for n in MODELS])
def test_card_recipe_beats_the_issue_bar_on_food_reviews(name, text_data, tmp_path_factory):
    accuracy = _test_accuracy(name, text_data, tmp_path_factory.mktemp("sentiment"))
    assert accuracy >= 0.78, f"{name}: {accuracy:.3f} < 0.78 (majority class 0.658)"


@pytest.mark.slow
@pytest.mark.xfail(reason="issue 4's goal, not reached: best measured 0.802 (GRU); TF-IDF and NB-weighted "
                          "logistic regression get 0.807 / 0.810 on the same split (linear_baselines in "
                          "benchmarks/results/sentiment_food_reviews_cpu.json)",
                   strict=False)
def test_the_best_sentiment_model_reaches_085(text_data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sentiment_best")
    assert max(_test_accuracy(name, text_data, workdir) for name in MODELS) >= 0.85
