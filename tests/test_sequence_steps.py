"""The supervised step bodies with per-token losses (language models, seq2seq): padding never counts."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from train.losses import softmax_cross_entropy
from train.state import create_train_state
from train.steps import SupervisedStep
from train.steps.supervised import per_sequence_sums, plain_call, teacher_forced_call, token_weights

VOCAB = 7


class TinyLM(nn.Module):
    """Embedding -> Dense: logits [B, T, V] that depend on each input token only."""

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        return nn.Dense(VOCAB)(nn.Embed(VOCAB, 5)(x))


def token_step(model, tx, teacher_forced: bool = False) -> SupervisedStep:
    """The step the language-model and seq2seq tasks build: per-token weights (pad id 0), per-sequence sums."""
    return SupervisedStep(model, tx, softmax_cross_entropy, call=teacher_forced_call if teacher_forced else plain_call,
                          weights=token_weights(0), report=per_sequence_sums)


class TinyTeacherForced(nn.Module):
    """Records that it was called with the targets, as seq2seq decoders are."""

    @nn.compact
    def __call__(self, x, targets=None, *, train: bool = False):
        assert targets is not None, "the step must pass targets to a teacher-forced model"
        return nn.Dense(VOCAB)(nn.Embed(VOCAB, 5)(x) + nn.Embed(VOCAB, 5)(targets))


def _batch():
    x = np.array([[4, 5, 6, 0], [5, 4, 0, 0], [6, 6, 6, 6]], np.int32)
    y = np.array([[5, 6, 3, 0], [4, 3, 0, 0], [6, 6, 6, 3]], np.int32)  # 0 = padding
    mask = np.array([1.0, 1.0, 0.0], np.float32)  # the third row is batch padding
    return {"x": x, "y": y, "mask": mask}


def _manual_token_mean(model, variables, batch):
    targets = {"targets": batch["y"]} if isinstance(model, TinyTeacherForced) else {}
    logits = model.apply(variables, batch["x"], **targets)
    losses = np.asarray(softmax_cross_entropy(logits, batch["y"]))
    real = (batch["y"] != 0) & (batch["mask"][:, None] > 0)
    return losses[real].mean(), int(real.sum())


@pytest.mark.parametrize("module", [TinyLM, TinyTeacherForced])
def test_token_loss_is_the_mean_over_real_target_tokens(module):
    model, batch = module(), _batch()
    tx = optax.sgd(0.0)
    teacher_forced = module is TinyTeacherForced
    steps = token_step(model, tx, teacher_forced)
    state = create_train_state(model, tx, batch["x"], seed=0, **({"targets": batch["y"]} if teacher_forced else {}))
    expected, tokens = _manual_token_mean(model, state.variables, batch)

    # The step's program against model.apply and numpy: the same positive sums in another order. A mean of 9
    # cross-entropies over 7 logits (of 5-wide embeddings) takes well under 84 roundings, hence 1e-5 relative (84 eps).
    _, metrics = jax.jit(steps.train)(state, batch)
    np.testing.assert_allclose(float(metrics["loss"]), expected, rtol=1e-5)

    result = jax.jit(steps.eval)(state, batch)
    assert "outputs" not in result  # per-token tasks return sums, not [B, T, V] logits
    np.testing.assert_array_equal(np.asarray(result["weight"]), [3, 2, 4])  # real target tokens per example
    first_two = slice(0, 2)
    np.testing.assert_allclose(float(result["loss"][first_two].sum()) / tokens, expected, rtol=1e-5)


def test_padded_targets_get_no_gradient():
    """Changing what sits under padded targets (or in padded rows) leaves the update unchanged."""
    model = TinyLM()
    tx = optax.sgd(0.1)
    steps = token_step(model, tx)
    batch = _batch()
    state = create_train_state(model, tx, batch["x"], seed=0)
    new_a, _ = jax.jit(steps.train)(state, batch)
    other = {**batch, "x": batch["x"].copy()}
    other["x"][0, 3] = 6  # input under a padded target
    other["x"][2] = [4, 4, 4, 4]  # a masked-out row
    new_b, _ = jax.jit(steps.train)(state, other)
    for a, b in zip(jax.tree.leaves(new_a.params), jax.tree.leaves(new_b.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-7)
    assert any(float(jnp.abs(a - b).max()) > 0 for a, b in zip(jax.tree.leaves(new_a.params),
                                                                jax.tree.leaves(state.params)))
