"""KV-cache decoding for the decoder-only models (GPT, Llama): prefill + one token per step gives the logits of
the full forward pass, prompts of different lengths decode as they would alone, `generate` (one while_loop)
and `stream` (a step at a time) give the same tokens, and the sampling filters do what they say."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.errors import InputShapeError, SettingError
from zoo.layers.kv_cache import next_positions
from zoo.sequence.sampling import filter_logits
from zoo.text.generation import Sampling, generate, pad_prompts, stream
from zoo.text.gpt import GPT
from zoo.text.llama import Llama

VOCAB = 61
MODELS = {
    "llama": lambda: Llama(vocab_size=VOCAB, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, mlp_dim=48,
                           rope_base=500.0, max_positions=64),
    "gpt": lambda: GPT(vocab_size=VOCAB, hidden_size=32, num_layers=2, num_heads=4, max_positions=64,
                       dropout_rate=0.0, attention_dropout_rate=0.0),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def lm(request):
    model = MODELS[request.param]()
    variables = jax.jit(model.init)(jax.random.key(1), jnp.ones((1, 8), jnp.int32))
    # Scale the table up so that logits are far from uniform and greedy choices are not near-ties.
    variables = jax.tree.map(lambda x: x * 4.0 if x.ndim == 2 and x.shape[0] == VOCAB else x, variables)
    return model, variables


def full_logits(model, variables, ids):
    """Logits [T, V] of one text without a cache (compiled: one program per length, not hundreds of ops)."""
    return np.asarray(jax.jit(model.apply)(variables, jnp.asarray([ids], jnp.int32))[0])


def test_cache_prefill_and_steps_equal_the_full_forward_pass(lm):
    model, variables = lm
    rows = jax.random.randint(jax.random.key(3), (2, 10), 1, VOCAB).tolist()
    lengths = [6, 3]  # row 1's prompt is 3 tokens, left-padded to the bucket of 6
    ids, mask = pad_prompts([r[:n] for r, n in zip(rows, lengths)], bucket=6)
    cache = model.init_cache(2, 6 + 4)
    logits, cache = model.apply(variables, jnp.asarray(ids), attention_mask=jnp.asarray(mask), cache=cache)
    steps = [np.asarray(logits[:, -1])]
    for t in range(4):  # feed each row's true continuation one token at a time
        token = jnp.asarray([[rows[r][lengths[r] + t]] for r in range(2)], jnp.int32)
        out, cache = model.apply(variables, token, cache=cache)
        steps.append(np.asarray(out[:, 0]))
    assert int(cache[0].index) == 10 and cache[1].lengths().tolist() == [10, 7]
    for r, n in enumerate(lengths):
        reference = full_logits(model, variables, rows[r][:n + 4])
        for t in range(5):
            np.testing.assert_allclose(steps[t][r], reference[n - 1 + t], atol=1e-4, rtol=1e-4)


def test_greedy_generation_equals_argmax_of_full_passes_for_a_padded_batch(lm):
    model, variables = lm
    prompts = [[5, 9, 13, 2, 40, 7, 7], [11], [3, 4, 5, 6]]
    out = generate(model, variables, prompts, max_new_tokens=4, bucket=8)
    assert out.tokens.shape == (3, 4) and out.lengths.tolist() == [4, 4, 4]
    for prompt, produced in zip(prompts, out.rows()):
        text = list(prompt)
        for _ in range(4):  # no cache: the whole text again each step
            text.append(int(np.argmax(full_logits(model, variables, text)[-1])))
        assert produced == text[len(prompt):]


def test_stream_gives_generate_tokens_and_stop_tokens_end_a_row(lm):
    model, variables = lm
    sampling = Sampling(temperature=0.9, top_k=20, top_p=0.95)
    key = jax.random.key(7)
    batch = generate(model, variables, [[4, 8, 15], [16, 23, 42, 1]], max_new_tokens=8, key=key, sampling=sampling)
    streamed = list(stream(model, variables, [4, 8, 15], max_new_tokens=8, key=key, sampling=sampling))
    assert streamed == batch.rows()[0]
    stop = batch.rows()[0][2]  # the third token row 0 produced: a stop token makes it the last
    stopped = generate(model, variables, [[4, 8, 15]], max_new_tokens=8, key=key, sampling=sampling,
                       stop_ids=[stop], pad_id=0)
    first = batch.rows()[0].index(stop) + 1
    assert stopped.rows()[0] == batch.rows()[0][:first] and stopped.lengths[0] == first
    assert (stopped.tokens[0, first:] == 0).all()
    assert list(stream(model, variables, [4, 8, 15], max_new_tokens=8, key=key, sampling=sampling,
                       stop_ids=[stop])) == stopped.rows()[0]


def test_top_k_top_p_and_temperature_filters():
    logits = jnp.log(jnp.asarray([[0.5, 0.3, 0.15, 0.05]]))
    kept = lambda **kw: np.isfinite(np.asarray(filter_logits(logits, temperature=1.0, **kw)))[0].tolist()  # noqa
    assert kept(top_p=0.5) == [True, False, False, False]  # 0.5 alone reaches the nucleus
    assert kept(top_p=0.75) == [True, True, False, False]
    assert kept(top_p=0.81) == [True, True, True, False]
    assert kept(top_k=3, top_p=1.0) == [True, True, True, False]
    hot = np.asarray(filter_logits(logits, temperature=2.0))
    np.testing.assert_allclose(hot, np.asarray(logits) / 2.0)
    draws = [int(Sampling(top_p=0.75).choose(logits, jax.random.key(i))[0]) for i in range(60)]
    assert set(draws) == {0, 1}
    assert int(Sampling(temperature=0.0).choose(logits, jax.random.key(0))[0]) == 0


def test_positions_count_real_tokens_only():
    real = jnp.asarray([[False, False, True, True], [True, True, True, True]])
    assert next_positions(jnp.asarray([0, 0]), real).tolist() == [[0, 0, 0, 1], [0, 1, 2, 3]]
    assert next_positions(jnp.asarray([5, 2]), real[:, :1] | True).tolist() == [[5], [2]]


def test_bad_requests_name_the_fix(lm):
    model, variables = lm
    with pytest.raises(InputShapeError, match="context"):
        generate(model, variables, [[1] * 60], max_new_tokens=8)
    with pytest.raises(InputShapeError, match="empty prompt"):
        generate(model, variables, [[]], max_new_tokens=2)
    with pytest.raises(SettingError, match="max_new_tokens"):
        generate(model, variables, [[1]], max_new_tokens=0)
    with pytest.raises(SettingError, match="top_p"):
        Sampling(top_p=0.0)
