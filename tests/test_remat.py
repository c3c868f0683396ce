"""Gradient checkpointing (`remat=True` on GPT and Llama): the blocks run under nn.remat, and nothing a user sees
changes: the same parameter names and shapes (checkpoints and pretrained weights load either way), the same
loss and gradients, the same decoding through the KV cache."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import compile_fast
from zoo.text.gpt import GPT
from zoo.text.llama import Llama

# Dropout on, so the test also sees that each block draws the same masks inside nn.remat as outside it.
TINY = {
    "gpt": (GPT, dict(vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, max_positions=16, dropout_rate=0.1,
                      attention_dropout_rate=0.1)),
    "llama": (Llama, dict(vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, mlp_dim=48,
                          max_positions=16, dropout_rate=0.1)),
}
# The same arithmetic in the same order: recomputing a block in the backward pass gives its forward values again;
# XLA may fuse the recomputed program differently, so gradients agree to float32 rounding, not bit for bit.
GRADIENT_TOLERANCE = 1e-6


def _loss_and_grads(model, params, ids):
    def loss(params):
        logits = model.apply({"params": params}, ids, train=True, rngs={"dropout": jax.random.key(2)})
        targets = jnp.roll(ids, -1, axis=1)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], axis=-1))

    fn = jax.value_and_grad(loss)
    return compile_fast(fn, params)(params), str(jax.make_jaxpr(fn)(params))


@pytest.mark.parametrize("name", list(TINY))
def test_remat_keeps_parameters_loss_gradients_and_decoding(name):
    cls, fields = TINY[name]
    ids = jax.random.randint(jax.random.key(1), (2, 16), 0, fields["vocab_size"])
    plain, rematted = cls(**fields), cls(**fields, remat=True)
    key = jax.random.key(0)
    params = compile_fast(plain.init, key, ids)(key, ids)["params"]
    # Same tree of the same shapes: a checkpoint of one loads into the other.
    shapes = jax.eval_shape(rematted.init, key, ids)["params"]
    assert jax.tree.structure(shapes) == jax.tree.structure(params)
    assert jax.tree.map(jnp.shape, shapes) == jax.tree.map(jnp.shape, params)

    (loss, grads), program = _loss_and_grads(plain, params, ids)
    (loss_remat, grads_remat), program_remat = _loss_and_grads(rematted, params, ids)
    assert "remat" in program_remat and "remat" not in program  # jax.checkpoint is really on, and only there
    np.testing.assert_allclose(loss_remat, loss, rtol=0, atol=GRADIENT_TOLERANCE)
    for g, g_remat in zip(jax.tree.leaves(grads), jax.tree.leaves(grads_remat)):
        np.testing.assert_allclose(g_remat, g, rtol=0, atol=GRADIENT_TOLERANCE)

    # Decoding passes each block its cache positionally too: the same logits, step by step.
    def prefill(model):
        return jax.jit(lambda params, prompt: model.apply({"params": params}, prompt, cache=model.init_cache(2, 8)))

    prompt = ids[:, :4]
    logits, cache = prefill(plain)(params, prompt)
    logits_remat, cache_remat = prefill(rematted)(params, prompt)
    np.testing.assert_allclose(logits_remat, logits, rtol=0, atol=1e-6)
    np.testing.assert_allclose(cache_remat[-1].key, cache[-1].key, rtol=0, atol=1e-6)
