"""Character language models (zoo.sequence.char_lm), sampling (zoo.sequence.sampling) and zoo-generate."""
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo
from rounding import assert_equal_up_to_rounding
from zoo.sequence.char_lm import CharLM
from zoo.sequence.sampling import distinct_n, sample

NAMES = ("char_rnn", "char_gru", "char_lstm")
SMALL = {"vocab_size": 12, "embed_dim": 8, "hidden_size": 16}


def roundings(steps: int, layers: int = 1) -> int:
    """Roundings behind one output of SMALL after `steps` steps, when another program computes it: each step
    of the first layer sums 8 embedding and 16 hidden products, of the others 16 + 16, then the 16-wide head."""
    return steps * ((8 + 16) + (layers - 1) * (16 + 16)) + 16


def small_model(name="char_gru", **fields):
    model = zoo.create(name, **{**SMALL, **fields})
    x = jnp.ones((1, 4), jnp.int32)
    return model, model.init(jax.random.key(0), x)


def peaked_model():
    """A GRU whose next-token distributions are far from uniform (scaled-up head), like a trained model's,
    so temperature visibly changes what is sampled."""
    model, variables = small_model()
    params = jax.tree.map(lambda p: p, variables["params"])
    params["head"]["kernel"] = params["head"]["kernel"] * 12.0
    return model, {"params": params}


def test_cards():
    for name, cell in zip(NAMES, ("rnn", "gru", "lstm")):
        card = zoo.model_card(name)
        assert card.task == "language_model" and card.input_dtype == "int32"
        assert card.default_dataset == "shakespeare" and card.loss == "softmax_cross_entropy"
        model = zoo.create(name)
        assert isinstance(model, CharLM) and model.cell == cell
        x, _ = zoo.registry.example_batch(card, 2)
        shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x))["params"]
        # The pretrained-vector contract: the table is params['embed']['embedding'] [V, E].
        assert shapes["embed"]["embedding"].shape == (card.defaults["vocab_size"], model.embed_dim)


@pytest.mark.parametrize("name", NAMES)
def test_teacher_forced_logits_equal_stepwise_generation(name):
    """Training (whole sequence) and generation (one character at a time) compute the same thing."""
    model, variables = small_model(name, num_layers=2)
    x = jax.random.randint(jax.random.key(1), (3, 9), 4, SMALL["vocab_size"])
    full, run_carry = jax.jit(lambda v, x: model.apply(v, x, method="run"))(variables, x)  # [B, T, V]
    assert full.shape == (3, 9, SMALL["vocab_size"]) and bool(jnp.isfinite(full).all())
    step = jax.jit(lambda v, tokens, carry: model.apply(v, tokens, carry, method="step"))
    carry = model.initial_carry(3)
    stepped = []
    for t in range(x.shape[1]):
        logits, carry = step(variables, x[:, t], carry)
        stepped.append(logits)
    # Two programs for the same maths (a scan over 9 steps, 9 one-step calls): equal up to rounding.
    assert_equal_up_to_rounding(np.stack(stepped, 1), full, terms=roundings(9, layers=2))
    for a, b in zip(jax.tree.leaves(run_carry), jax.tree.leaves(carry)):
        assert_equal_up_to_rounding(a, b, terms=roundings(9, layers=2), scale=max(1.0, float(jnp.abs(a).max())))


def test_padding_leaves_the_state_unchanged():
    model, variables = small_model("char_lstm")
    x = jnp.array([[5, 6, 7, 0, 0]])
    _, padded_carry = model.apply(variables, x, method="run")
    _, real_carry = model.apply(variables, x[:, :3], method="run")
    for a, b in zip(jax.tree.leaves(padded_carry), jax.tree.leaves(real_carry)):  # 5 steps against 3
        assert_equal_up_to_rounding(a, b, terms=roundings(3), scale=max(1.0, float(jnp.abs(b).max())))


def test_token_ids_are_required():
    model, variables = small_model()
    with pytest.raises(ValueError, match="int token ids"):
        model.apply(variables, jnp.ones((2, 5), jnp.float32))


def test_greedy_is_deterministic_and_takes_the_argmax():
    model, variables = small_model()
    prompt = np.array([4, 5, 6])
    a = sample(model, variables, prompt, 12, jax.random.key(0), greedy=True)
    b = sample(model, variables, prompt, 12, jax.random.key(99), greedy=True)
    np.testing.assert_array_equal(a, b)
    # The same thing by hand, one argmax at a time over the non-special tokens.
    logits, carry = model.apply(variables, jnp.asarray(prompt[None]), method="run")
    step = jax.jit(lambda v, tokens, carry: model.apply(v, tokens, carry, method="step"))
    logits, expected = logits[:, -1], []
    for _ in range(12):
        token = int(jnp.argmax(logits[0, 3:])) + 3  # ids 0-2 (<pad>, <unk>, <bos>) are never sampled
        expected.append(token)
        logits, carry = step(variables, jnp.array([token]), carry)
    assert a.shape == (1, 12) and a[0].tolist() == expected


def test_top_k_1_and_near_zero_temperature_equal_greedy():
    model, variables = peaked_model()
    prompt = np.tile([4, 7], (4, 1))
    greedy = sample(model, variables, prompt, 20, jax.random.key(0), greedy=True)
    np.testing.assert_array_equal(sample(model, variables, prompt, 20, jax.random.key(1), top_k=1), greedy)
    np.testing.assert_array_equal(sample(model, variables, prompt, 20, jax.random.key(2), temperature=1e-4), greedy)
    np.testing.assert_array_equal(sample(model, variables, prompt, 20, jax.random.key(3), temperature=0.0), greedy)


def test_sampling_is_seeded_and_never_emits_special_tokens():
    model, variables = small_model()
    prompt = np.tile([4], (8, 1))
    a = sample(model, variables, prompt, 30, jax.random.key(5), temperature=2.0)
    np.testing.assert_array_equal(a, sample(model, variables, prompt, 30, jax.random.key(5), temperature=2.0))
    assert not np.array_equal(a, sample(model, variables, prompt, 30, jax.random.key(6), temperature=2.0))
    assert a.min() >= 3 and a.max() < SMALL["vocab_size"]


def test_top_k_keeps_only_the_k_most_likely_tokens():
    model, variables = small_model()
    prompt = np.tile([4], (64, 1))
    first = sample(model, variables, prompt, 1, jax.random.key(0), temperature=5.0, top_k=2)[:, 0]
    logits = model.apply(variables, jnp.asarray(prompt[:1]))[0, -1]
    allowed = set(np.argsort(-np.asarray(logits[3:]))[:2] + 3)
    assert set(first.tolist()) == allowed  # 64 hot draws: both allowed tokens appear, nothing else


def test_higher_temperature_gives_more_diverse_text():
    model, variables = peaked_model()
    prompt = np.tile([4, 5], (16, 1))

    def diversity(temperature):
        ids = sample(model, variables, prompt, 40, jax.random.key(0), temperature=temperature)
        return distinct_n(ids, 2), distinct_n(ids, 3)

    cold, warm, hot = diversity(0.3), diversity(1.0), diversity(3.0)
    assert cold[0] < warm[0] < hot[0] and cold[1] < warm[1] < hot[1]


def test_distinct_n_counts_unique_ngrams():
    assert distinct_n(["abab"], 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct_n(["aaaa", "abcd"], 1) == pytest.approx(4 / 8)
    assert distinct_n([[1, 2, 3], [1, 2, 4]], 2) == pytest.approx(3 / 4)
    assert distinct_n(np.array([[1, 1, 1]]), 3) == 1.0
    assert distinct_n(["ab"], 3) == 0.0  # no sequence is long enough
    with pytest.raises(ValueError, match="n must be"):
        distinct_n(["abc"], 0)


def test_sample_rejects_bad_arguments():
    model, variables = small_model()
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="P >= 1"):
        sample(model, variables, np.zeros((2, 0), np.int32), 5, key)
    with pytest.raises(ValueError, match="padding"):
        sample(model, variables, [4, 0], 5, key)
    with pytest.raises(ValueError, match="temperature"):
        sample(model, variables, [4], 5, key, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k"):
        sample(model, variables, [4], 5, key, top_k=SMALL["vocab_size"] + 1)
    with pytest.raises(ValueError, match="length"):
        sample(model, variables, [4], 0, key)


# --- end to end: train through the real loop, then zoo-generate -------------------------------------------------

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from helpers import train_tiny_language_model

    root = tmp_path_factory.mktemp("char_lm")
    result = train_tiny_language_model(root, "char_gru", {"hidden_size": 24, "embed_dim": 8})
    return root / "run", result


def test_training_writes_what_generation_needs(trained_run):
    workdir, result = trained_run
    assert result.summary["data"]["task"] == "language_model"
    assert all((workdir / name).is_file() for name in ("config.json", "codec.json", "summary.json"))
    assert np.isfinite(result.summary["history"][-1]["val_loss"])


def test_generate_prints_the_prompt_and_n_characters_of_the_vocabulary(trained_run, capsys):
    from train.cli.generate import main
    from zoo.text import TextCodec

    workdir, _ = trained_run
    vocabulary = set(TextCodec.load(workdir / "codec.json").vocab.tokens[4:])
    assert main(["char_gru", "--workdir", str(workdir), "--prompt", "To be", "--length", "50",
                 "--temperature", "0.8", "--seed", "3"]) == 0
    text = capsys.readouterr().out[:-1]  # print's newline
    assert text.startswith("To be") and len(text) == len("To be") + 50
    assert set(text) <= vocabulary

    assert main(["char_gru", "--workdir", str(workdir), "--length", "30", "--greedy", "--num-samples", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- sample") == 2
    first, second = (part.split("\n", 1)[1][:-1] for part in out.split("--- sample")[1:])
    assert first == second and len(first) == 30  # greedy: every sample the same


def test_generate_errors_name_the_problem(trained_run, capsys, tmp_path):
    from train.cli.generate import main

    workdir, _ = trained_run
    assert main(["char_gru", "--workdir", str(workdir), "--prompt", "To be ~ or ¶", "--length", "5"]) == 2
    err = capsys.readouterr().err
    assert "not in the model's vocabulary" in err and "'~'" in err and "'¶'" in err

    assert main(["char_lstm", "--workdir", str(workdir), "--length", "5"]) == 2
    assert "trained 'char_gru', not 'char_lstm'" in capsys.readouterr().err

    empty = tmp_path / "copied"
    empty.mkdir()
    for name in ("config.json", "summary.json", "codec.json"):
        shutil.copy(workdir / name, empty / name)
    assert main(["char_gru", "--workdir", str(empty), "--length", "5"]) == 2
    assert "no checkpoint" in capsys.readouterr().err

    assert main(["char_gru", "--workdir", str(tmp_path / "missing"), "--length", "5"]) == 2
    assert "does not exist" in capsys.readouterr().err

    assert main(["resnet18", "--workdir", str(workdir), "--length", "5"]) == 2
    assert "language models" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        main(["char_gru", "--workdir", str(workdir), "--length", "0"])


def test_generate_rejects_a_checkpoint_of_another_shape(trained_run, tmp_path, capsys):
    from train.cli.generate import main

    workdir, _ = trained_run
    copy = tmp_path / "edited"
    shutil.copytree(workdir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["model_overrides"] = [["hidden_size", 32], ["embed_dim", 8]]
    (copy / "config.json").write_text(json.dumps(config))
    assert main(["char_gru", "--workdir", str(copy), "--length", "5"]) == 2
    assert "does not fit char_gru" in capsys.readouterr().err


def test_a_run_stopped_before_its_summary_can_still_be_sampled(trained_run, tmp_path, capsys):
    """config.json is written when training starts; summary.json only when it ends."""
    from train.cli.generate import main

    workdir, _ = trained_run
    stopped = tmp_path / "stopped"
    shutil.copytree(workdir, stopped)
    (stopped / "summary.json").unlink()
    assert main(["char_gru", "--workdir", str(stopped), "--length", "12", "--greedy"]) == 0
    assert len(capsys.readouterr().out[:-1]) == 12
