"""GPT (zoo.text.gpt): shapes, GPT-2's initialisation, causality, the tied head, padding, training, bf16."""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import zoo
from helpers import compile_fast
from zoo.errors import InputShapeError
from zoo.layers.kv_cache import positions_from_mask
from zoo.text.gpt import GPT

SMALL = dict(vocab_size=31, hidden_size=32, num_layers=2, num_heads=4, max_positions=16)


@pytest.fixture(scope="module")
def small():
    model = GPT(**SMALL)
    ids = jax.random.randint(jax.random.key(1), (3, 12), 0, SMALL["vocab_size"])
    variables = jax.jit(model.init)(jax.random.key(0), ids)
    forward = jax.jit(lambda v, ids, mask, positions: model.apply(v, ids, attention_mask=mask, positions=positions))
    return model, variables, ids, forward


def test_cards():
    for name in ("gpt_nano", "gpt2"):
        card = zoo.model_card(name)
        assert (card.family, card.task, card.input_dtype, card.loss) == (
            "text", "language_model", "int32", "softmax_cross_entropy")
        assert dict(card.data_fields) == {"vocab_size": "vocab_size"}
        assert isinstance(zoo.create(name), GPT)
    nano = zoo.create("gpt_nano")
    assert (nano.num_layers, nano.hidden_size, nano.num_heads, nano.max_positions) == (4, 128, 4, 256)
    # GPT-2 small as released: Hugging Face's GPT2LMHeadModel counts 124,439,808 parameters (tied head).
    assert zoo.card("gpt2")["param_count"] == 124_439_808


def test_shapes_names_and_dtypes(small):
    model, variables, ids, forward = small
    params = variables["params"]
    assert set(params) == {"wte", "wpe", "h_0", "h_1", "ln_f"}  # Hugging Face's names; no lm_head: tied
    assert params["wte"]["embedding"].shape == (31, 32) and params["wpe"]["embedding"].shape == (16, 32)
    assert params["h_0"]["attention"]["qkv"]["kernel"].shape == (32, 96)  # GPT-2's fused c_attn
    assert params["h_0"]["mlp"]["up"]["kernel"].shape == (32, 128)  # 4 x hidden_size
    logits = forward(variables, ids, None, None)
    assert logits.shape == (3, 12, 31) and logits.dtype == jnp.float32 and bool(jnp.isfinite(logits).all())


def test_gpt2_initialisation():
    """normal(0.02) kernels and embeddings; residual projections (attention out, mlp down) 0.02 / sqrt(2 L)."""
    layers = 3
    model = GPT(vocab_size=64, hidden_size=96, num_layers=layers, num_heads=4, max_positions=32)
    params = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))["params"]
    residual = 0.02 / math.sqrt(2 * layers)
    for index in range(layers):
        block = params[f"h_{index}"]
        for kernel, std in ((block["attention"]["qkv"]["kernel"], 0.02), (block["mlp"]["up"]["kernel"], 0.02),
                            (block["attention"]["out"]["kernel"], residual),
                            (block["mlp"]["down"]["kernel"], residual)):
            assert float(jnp.std(kernel)) == pytest.approx(std, rel=0.06) and abs(float(jnp.mean(kernel))) < 2e-3
        assert float(jnp.abs(block["attention"]["qkv"]["bias"]).max()) == 0.0
        assert float(jnp.abs(block["mlp_norm"]["scale"] - 1).max()) == 0.0
    for table in (params["wte"]["embedding"], params["wpe"]["embedding"]):
        assert float(jnp.std(table)) == pytest.approx(0.02, rel=0.06)
    qkv = [params[f"h_{i}"]["attention"]["qkv"]["kernel"] for i in range(layers)]
    assert not np.allclose(qkv[0], qkv[1])  # each block drew its own


def test_causal_later_tokens_do_not_change_earlier_logits(small):
    model, variables, ids, forward = small
    before = forward(variables, ids, None, None)
    t = 5
    changed = ids.at[:, t].set((ids[:, t] + 1) % SMALL["vocab_size"])
    after = forward(variables, changed, None, None)
    np.testing.assert_array_equal(before[:, :t], after[:, :t])
    assert float(jnp.abs(before[:, t:] - after[:, t:]).min(axis=-1).max()) > 0  # every later position moved


def test_head_is_tied_to_the_token_embedding(small):
    model, variables, ids, forward = small
    hidden = jax.jit(lambda v, ids: model.apply(v, ids, method=model.hidden))(variables, ids)
    np.testing.assert_allclose(forward(variables, ids, None, None),
                               hidden @ variables["params"]["wte"]["embedding"].T, rtol=1e-5, atol=1e-6)
    # The table gets gradient through the head too: rows of tokens absent from the input still move.
    absent = sorted(set(range(SMALL["vocab_size"])) - set(np.asarray(ids).ravel().tolist()))
    assert absent
    grads = compile_fast(jax.grad(lambda p: jnp.sum(model.apply({"params": p}, ids) ** 2)),
                         variables["params"])(variables["params"])
    assert float(jnp.abs(grads["wte"]["embedding"][jnp.asarray(absent)]).min(axis=-1).max()) > 0
    untied = GPT(**SMALL, tie_embeddings=False)
    shapes = jax.eval_shape(untied.init, jax.random.key(0), ids)["params"]
    assert shapes["lm_head"]["kernel"].shape == (32, 31) and "bias" not in shapes["lm_head"]


def test_padding(small):
    """Right padding changes nothing at real tokens; left padding needs attention_mask and positions, and then
    every real token's logits equal those of its unpadded text."""
    model, variables, ids, forward = small
    lengths = np.array([12, 9, 5])
    mask = np.arange(12)[None, :] < lengths[:, None]
    reference = forward(variables, ids, None, None)

    other_padding = jnp.where(mask, ids, 7)
    for attention_mask in (None, jnp.asarray(mask)):
        right = forward(variables, other_padding, attention_mask, None)
        np.testing.assert_allclose(np.asarray(right)[mask], np.asarray(reference)[mask], rtol=1e-5, atol=1e-5)

    shifted = np.stack([np.roll(np.asarray(ids[i]), 12 - n) for i, n in enumerate(lengths)])  # left padded
    left_mask = np.stack([np.roll(mask[i], 12 - n) for i, n in enumerate(lengths)])
    shifted = np.where(left_mask, shifted, 3)
    left_mask = jnp.asarray(left_mask)
    left = forward(variables, jnp.asarray(shifted), left_mask, positions_from_mask(left_mask))
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(left[i, 12 - n:], reference[i, :n], rtol=1e-5, atol=1e-5)
    unmasked = forward(variables, jnp.asarray(shifted), None, positions_from_mask(left_mask))
    assert not np.allclose(unmasked[2, -5:], reference[2, :5], atol=1e-3)  # the mask is what makes it so


def test_jit_forward_and_grad_finite_with_dropout():
    model = GPT(**SMALL, dropout_rate=0.1, attention_dropout_rate=0.1)
    ids = jax.random.randint(jax.random.key(1), (2, 10), 0, SMALL["vocab_size"])
    params = jax.jit(model.init)(jax.random.key(0), ids)["params"]

    def loss_and_grad(params, key):
        def loss(p):
            logits = model.apply({"params": p}, ids[:, :-1], train=True, rngs={"dropout": key})
            return optax.softmax_cross_entropy_with_integer_labels(logits, ids[:, 1:]).mean()
        return jax.value_and_grad(loss)(params)

    loss_and_grad = compile_fast(loss_and_grad, params, jax.random.key(2))
    loss_a, grads = loss_and_grad(params, jax.random.key(2))
    loss_b, _ = loss_and_grad(params, jax.random.key(3))
    assert bool(jnp.isfinite(loss_a)) and loss_a != loss_b  # dropout draws from the 'dropout' stream
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads))


def test_tiny_model_overfits_a_string():
    text = "to be or not to be, that is the question"
    chars = sorted(set(text))
    data = jnp.asarray([[chars.index(c) for c in text]], jnp.int32)
    x, y = data[:, :-1], data[:, 1:]
    model = GPT(vocab_size=len(chars), hidden_size=32, num_layers=2, num_heads=4, max_positions=64,
                dropout_rate=0.0, attention_dropout_rate=0.0)
    params = jax.jit(model.init)(jax.random.key(0), x)["params"]
    optimizer = optax.adam(1e-2)

    @jax.jit
    def step(params, opt_state):
        def loss(p):
            return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y).mean()
        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    opt_state = optimizer.init(params)
    losses = []
    for _ in range(40):
        params, opt_state, value = step(params, opt_state)
        losses.append(float(value))
    assert losses[0] > 2.0 and losses[-1] < 0.05, losses[::10]
    predicted = model.apply({"params": params}, x).argmax(-1)
    assert bool((predicted == y).all())


def test_bf16_compute(small):
    model, variables, ids, forward = small
    bf16 = dataclasses.replace(model, dtype=jnp.bfloat16)
    assert jax.tree.leaves(jax.eval_shape(bf16.init, jax.random.key(0), ids))[0].dtype == jnp.float32
    logits = jax.jit(bf16.apply)(variables, ids)
    assert logits.dtype == jnp.float32 and bool(jnp.isfinite(logits).all())
    reference = forward(variables, ids, None, None)
    assert float(jnp.abs(logits - reference).max()) <= 0.05 * float(jnp.abs(reference).max())


def test_bad_inputs_name_the_fix(small):
    model, variables, ids, _ = small
    with pytest.raises(InputShapeError, match="16 positions.*crop"):
        model.apply(variables, jnp.zeros((1, 17), jnp.int32))
    with pytest.raises(InputShapeError, match="attention_mask must have the shape of ids"):
        model.apply(variables, ids, attention_mask=jnp.ones((3, 11)))
    with pytest.raises(InputShapeError, match="int token ids"):
        model.apply(variables, ids.astype(jnp.float32))


def test_positions_from_mask():
    mask = jnp.asarray([[0, 0, 1, 1, 1], [1, 1, 1, 0, 0]])
    np.testing.assert_array_equal(positions_from_mask(mask), [[0, 0, 0, 1, 2], [0, 1, 2, 2, 2]])


def test_hugging_face_key_mapping():
    from zoo.weights.hf_gpt2 import gpt2_key, gpt2_state_dict

    assert gpt2_key("transformer.wte.weight") == gpt2_key("wte.weight") == "wte.weight"
    assert gpt2_key("h.11.ln_1.weight") == "h.11.attention_norm.weight"
    assert gpt2_key("transformer.h.0.attn.c_attn.bias") == "h.0.attention.qkv.bias"
    assert gpt2_key("h.2.attn.c_proj.weight") == "h.2.attention.out.weight"
    assert gpt2_key("h.2.mlp.c_fc.weight") == "h.2.mlp.up.weight"
    assert gpt2_key("h.2.mlp.c_proj.bias") == "h.2.mlp.down.bias"
    assert gpt2_key("transformer.ln_f.bias") == "ln_f.bias"
    for not_a_variable in ("h.0.attn.bias", "transformer.h.3.attn.masked_bias", "lm_head.weight"):
        assert gpt2_key(not_a_variable) is None
    assert gpt2_key("lm_head.weight", tied=False) == "lm_head.weight"
    assert gpt2_key("h.0.attn.rotary.weight") == "h.0.attn.rotary.weight"  # unknown: left for the converter to list
    # Conv1D weights [in, out] are turned into nn.Linear's [out, in]; nothing else moves.
    state = {"h.0.attn.c_attn.weight": np.zeros((4, 12)), "h.0.attn.c_attn.bias": np.zeros(12),
             "transformer.h.1.mlp.c_proj.weight": np.zeros((16, 4)), "wte.weight": np.zeros((9, 4)),
             "lm_head.weight": np.zeros((9, 4))}
    shapes = {k: v.shape for k, v in gpt2_state_dict(state).items()}
    assert shapes == {"h.0.attn.c_attn.weight": (12, 4), "h.0.attn.c_attn.bias": (12,),
                      "transformer.h.1.mlp.c_proj.weight": (4, 16), "wte.weight": (9, 4), "lm_head.weight": (9, 4)}


def test_gpt_nano_trains_through_the_language_model_task(tmp_path):
    """The card's interface with training: the task sets vocab_size from the data set, feeds windows [B, T] and
    the loss falls over a few epochs of a small text (the card's AdamW recipe, higher rate, shorter warm-up)."""
    from conftest import quick
    from train import train_and_evaluate

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 16)
    config = quick("gpt_nano", dataset=f"text:{corpus}", epochs=3, batch_size=8, seq_len=16, min_freq=1,
                   warmup_steps=5, lr=1e-2, model_overrides={"hidden_size": 32, "num_layers": 2, "max_positions": 16})
    result = train_and_evaluate(config, tmp_path / "run")
    history = result.summary["history"]
    assert result.summary["data"]["task"] == "language_model"
    vocabulary = len(set(corpus.read_text())) + 4  # the characters and the codec's 4 specials
    assert result.model.vocab_size == vocabulary and result.model.tie_embeddings
    assert all(np.isfinite(h["val_loss"]) for h in history)
    assert history[-1]["val_loss"] < 0.8 * history[0]["val_loss"], [h["val_loss"] for h in history]
