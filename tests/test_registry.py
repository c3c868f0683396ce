import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import zoo
from helpers import compile_fast
from train.state import TRANSIENT_COLLECTIONS
from zoo.errors import InputShapeError, UnknownNameError

REQUIRED_CARD_KEYS = {"name", "family", "task", "default_dataset", "input_spec", "reference", "param_count"}


def test_first_entries_registered():
    assert {"perceptron", "logistic_regression", "linear_svm", "mlp", "mlp_small"} <= set(zoo.list_models())
    assert zoo.list_models("mlp") == ["mlp", "mlp_small"]


def test_unknown_model_suggests_closest():
    with pytest.raises(UnknownNameError, match=r"Did you mean: mlp"):
        zoo.create("mlpp")
    with pytest.raises(UnknownNameError, match="logistic_regression"):
        zoo.card("logistic_regresion")
    with pytest.raises(UnknownNameError, match="known families"):
        zoo.list_models("cnn_family_that_does_not_exist")


def test_unknown_override_lists_fields():
    with pytest.raises(TypeError, match="hidden"):
        zoo.create("mlp", hiden=(10,))


def test_mlp_sizes_follow_the_notes():
    assert zoo.create("mlp").hidden == (512, 512)
    assert zoo.create("mlp_small").hidden == (50, 20)
    assert zoo.card("mlp")["param_count"] == 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
    assert zoo.card("mlp_small")["param_count"] == 784 * 50 + 50 + 50 * 20 + 20 + 20 * 10 + 10


@pytest.mark.parametrize("name", zoo.list_models())
def test_card_is_complete(name):
    card = zoo.card(name)
    assert REQUIRED_CARD_KEYS <= card.keys()
    assert {"metric", "value", "dataset", "source"} <= card["reference"].keys()
    assert card["param_count"] > 0


def _expected_output_shape(card, x, kwargs) -> tuple[int, ...]:
    if card.input_dtype == "graph":  # one output per graph of the padded batch (the padding graph too)
        return (x.n_node.shape[0], 3)
    if card.task == "classification":
        return (x.shape[0], 3)
    if card.task == "regression":
        return (x.shape[0], 2)
    if card.task in ("word2vec", "glove"):  # a loss (or predicted log count) per pair or co-occurrence entry
        return (x.shape[0],)
    vocab = card.defaults.get("tgt_vocab_size", card.defaults.get("vocab_size"))
    length = kwargs["targets"].shape[1] if "targets" in kwargs else x.shape[1]
    return (x.shape[0], length, vocab)  # one distribution per token


# Variants built from exactly the blocks of models swept by default (resnet18's basic blocks, resnet50's
# bottlenecks, vgg11's conv stacks, resnet18's BatchNorm, vit_b_16's encoder blocks, minilm_l6's BERT layers at
# BERT-base width, gpt_nano's GPT at GPT-2 small's size, llama's blocks at SmolLM2's size): the default run keeps
# to its stated time on 2 cores; `pytest -m slow` sweeps them too.
DEEPER_VARIANTS = {"resnet34", "resnet101", "resnet152", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
                   "vgg19_bn", "vit_s_16", "vit_ti_16", "bert", "gpt2", "smollm2_135m"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in DEEPER_VARIANTS else n
                                  for n in zoo.list_models()])
def test_model_init_forward_backward(name):
    """The timm-style sweep: every registered model inits, runs under jit, differentiates, stays finite."""
    card = zoo.model_card(name)
    head = {"classification": {"num_classes": 3}, "graph": {"num_classes": 3},
            "regression": {"num_outputs": 2}}.get(card.task, {})
    model = zoo.create(name, **head)
    x, kwargs = zoo.registry.example_batch(card, 4)
    # Init and an eval-mode forward pass as one program, then the backward pass, both compiled at XLA's lowest
    # optimisation level: the same values, compiled 2-3x faster (the sweep is the biggest part of the default
    # test run, and nearly all of it is compiling). The trainer's own init is exercised by every training test.
    init = lambda key, x, kw: model.init_with_output(key, x, **kw)  # noqa: E731
    out, variables = compile_fast(init, jax.random.key(1), x, kwargs)(jax.random.key(1), x, kwargs)
    variables = {k: v for k, v in variables.items() if k not in TRANSIENT_COLLECTIONS}
    chex.assert_shape(out, _expected_output_shape(card, x, kwargs))
    chex.assert_tree_all_finite(out)

    # Training mode updates BatchNorm statistics and may record auxiliary heads' outputs.
    mutable = [k for k in variables if k != "params"] + ["aux_outputs"]

    def loss(params):
        out, _ = model.apply({**variables, "params": params}, x, train=True,
                             rngs={"dropout": jax.random.key(2)}, mutable=mutable, **kwargs)
        return jnp.sum(out ** 2)

    grads = compile_fast(jax.grad(loss), variables["params"])(variables["params"])
    chex.assert_trees_all_equal_shapes(grads, variables["params"])
    chex.assert_tree_all_finite(grads)
    assert any(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(grads))


def test_binary_linear_models_emit_one_score():
    model = zoo.create("logistic_regression", num_classes=2)
    x = jnp.ones((5, 30))
    variables = model.init(jax.random.key(0), x)
    assert model.apply(variables, x).shape == (5, 1)
    preds = model.apply(variables, x, method="predict")
    assert preds.shape == (5,) and set(np.unique(preds)) <= {0, 1}


def test_input_size_inferred_from_data():
    model = zoo.create("mlp")
    for shape in [(2, 8, 8), (2, 28, 28), (2, 30)]:
        variables = model.init(jax.random.key(0), jnp.zeros(shape))
        assert variables["params"]["hidden_0"]["kernel"].shape[0] == np.prod(shape[1:])


def test_wrong_input_shape_names_the_fix():
    model = zoo.create("mlp", in_features=64)
    variables = model.init(jax.random.key(0), jnp.zeros((1, 8, 8)))
    with pytest.raises(InputShapeError, match=r"built for 64 input features per example but got 784.*in_features=784"):
        model.apply(variables, jnp.zeros((2, 28, 28)))
    with pytest.raises(InputShapeError, match="add a batch axis"):
        model.apply(variables, jnp.zeros((64,)))
    with pytest.raises(InputShapeError, match="/ 255"):
        model.apply(variables, jnp.zeros((2, 8, 8), jnp.uint8))


def test_bf16_compute_switch():
    model = zoo.create("mlp", dtype=jnp.bfloat16)
    x = jnp.ones((2, 28, 28))
    variables = model.init(jax.random.key(0), x)
    assert jax.tree.leaves(variables)[0].dtype == jnp.float32  # params stay f32
    assert model.apply(variables, x).dtype == jnp.float32  # logits returned in f32
    assert dataclasses.replace(model, dtype=jnp.float32).apply(variables, x).shape == (2, 10)
