"""ResNet and GoogLeNet behaviour: torchvision parameter counts, stem choice, aux outputs, BatchNorm state.

Deep nets are slow to initialise and compile on CPU, so structure is checked with `jax.eval_shape`
(tracing only) and values on one-block ResNets; numerical agreement is the parity tests' job.
"""
import functools

import chex
import jax
import jax.numpy as jnp
import pytest

import zoo
from zoo.errors import InputShapeError
from zoo.registry import count_params


def _init_shapes(model, shape, **kwargs):
    return jax.eval_shape(functools.partial(model.init, **kwargs), jax.random.key(0), jnp.zeros((2, *shape)))


def _apply_shapes(model, shape, **kwargs):
    """Shapes and dtypes of `model.apply(variables, x, **kwargs)` without computing anything."""
    x = jnp.zeros((2, *shape))

    def run(key):
        variables = model.init(key, x)
        return model.apply(variables, x, rngs={"dropout": key}, **kwargs)

    return jax.eval_shape(run, jax.random.key(0))


@pytest.mark.parametrize("name, expected", [
    ("resnet18", 11_689_512), ("resnet34", 21_797_672), ("resnet50", 25_557_032),
    ("resnet101", 44_549_160), ("resnet152", 60_192_808),
])
def test_resnet_param_count_matches_torchvision(name, expected):
    # torchvision's documented num_params, with the ImageNet stem (chosen for 224 px input).
    assert count_params(zoo.create(name), (224, 224, 3)) == expected


def test_googlenet_param_counts_match_torchvision():
    assert count_params(zoo.create("googlenet"), (224, 224, 3)) == 13_004_888  # with both aux heads
    assert count_params(zoo.create("googlenet", aux_logits=False), (224, 224, 3)) == 6_624_904  # documented


def test_resnet_stem_follows_input_size():
    model = zoo.create("resnet18", num_classes=3)
    assert _init_shapes(model, (32, 32, 3))["params"]["conv1"]["kernel"].shape == (3, 3, 3, 64)
    assert _init_shapes(model, (224, 224, 3))["params"]["conv1"]["kernel"].shape == (7, 7, 3, 64)
    # An explicit choice overrides the size rule either way.
    for small_stem, size, kernel in [(False, 32, 7), (True, 96, 3)]:
        params = _init_shapes(zoo.create("resnet18", small_stem=small_stem), (size, size, 3))["params"]
        assert params["conv1"]["kernel"].shape[0] == kernel


def test_resnet_small_stem_keeps_resolution():
    model = zoo.create("resnet18", num_classes=3)
    _, state = _apply_shapes(model, (32, 32, 1), mutable=["intermediates"], capture_intermediates=True)
    # 32 px with no stem down-sampling: layer4 sees 4x4 (torchvision's stem would leave 1x1).
    assert state["intermediates"]["layer4_1"]["__call__"][0].shape == (2, 4, 4, 512)
    assert state["intermediates"]["embedding"][0].shape == (2, 512)


def test_resnet_bf16_gives_f32_logits():
    model = zoo.create("resnet50", num_classes=3, dtype=jnp.bfloat16)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(_init_shapes(model, (16, 16, 3))))
    assert _apply_shapes(model, (16, 16, 3)).dtype == jnp.float32


@pytest.mark.parametrize("block, last_bn", [("basic", "bn2"), ("bottleneck", "bn3")])
def test_resnet_zero_init_residual(block, last_bn):
    model = zoo.create("resnet18", stage_sizes=(1, 1), block=block, zero_init_residual=True)
    params = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))["params"]
    for stage in ("layer1_0", "layer2_0"):
        assert float(jnp.abs(params[stage][last_bn]["scale"]).max()) == 0.0
        assert float(params[stage]["bn1"]["scale"].min()) == 1.0
    assert float(params["layer2_0"]["downsample_1"]["scale"].min()) == 1.0  # only the residual branch is zeroed


def test_resnet_batch_stats_update_in_train_mode_only():
    model = zoo.create("resnet18", stage_sizes=(1, 1), num_classes=3)  # one block per stage: same code, quick
    x = jax.random.normal(jax.random.key(0), (2, 16, 16, 3))
    variables = model.init(jax.random.key(1), x)
    _, state = model.apply(variables, x, train=True, mutable=["batch_stats"])
    for path in (("bn1",), ("layer2_0", "downsample_1")):
        old, new = variables["batch_stats"], state["batch_stats"]
        for key in path:
            old, new = old[key], new[key]
        assert float(jnp.abs(new["mean"] - old["mean"]).max()) > 0
        assert float(jnp.abs(new["var"] - old["var"]).max()) > 0
    chex.assert_trees_all_equal_shapes(state["batch_stats"], variables["batch_stats"])
    # Eval mode reads the running averages and changes nothing.
    _, eval_state = model.apply(variables, x, mutable=["batch_stats"])
    chex.assert_trees_all_close(eval_state["batch_stats"], variables["batch_stats"])


def test_googlenet_train_sows_two_aux_outputs():
    model = zoo.create("googlenet", num_classes=5)
    variables = _init_shapes(model, (32, 32, 3))
    assert set(variables) == {"params", "batch_stats"}  # no aux_outputs left over from init
    assert {"aux1", "aux2", "fc"} <= set(variables["params"])
    assert _init_shapes(model, (32, 32, 3), train=True).keys() == {"params", "batch_stats"}
    logits, state = _apply_shapes(model, (32, 32, 3), train=True, mutable=["batch_stats", "aux_outputs"])
    assert logits.shape == (2, 5)
    # Sown by the heads themselves: aux_outputs/aux1/logits and aux_outputs/aux2/logits.
    assert set(state["aux_outputs"]) == {"aux1", "aux2"}
    leaves = jax.tree.leaves(state["aux_outputs"])
    assert len(leaves) == 2 and all(leaf.shape == (2, 5) and leaf.dtype == jnp.float32 for leaf in leaves)
    # The aux heads' BatchNorms are part of the train-mode state like the main path's.
    assert {"aux1", "aux2", "conv1"} <= set(state["batch_stats"])


def test_googlenet_eval_uses_main_head_only():
    model = zoo.create("googlenet", num_classes=5)
    logits, state = _apply_shapes(model, (32, 32, 3), mutable=["aux_outputs"])
    assert logits.shape == (2, 5) and not state
    # aux_logits=False: the main path's parameters alone, and nothing sown even in train mode.
    full = _init_shapes(model, (32, 32, 3))["params"]
    main_only = zoo.create("googlenet", num_classes=5, aux_logits=False)
    main_params = _init_shapes(main_only, (32, 32, 3))["params"]
    assert set(main_params) == set(full) - {"aux1", "aux2"}
    chex.assert_trees_all_equal_shapes(main_params, {k: v for k, v in full.items() if k in main_params})
    _, state = _apply_shapes(main_only, (32, 32, 3), train=True, mutable=["batch_stats", "aux_outputs"])
    assert "aux_outputs" not in state


def test_googlenet_input_errors():
    model = zoo.create("googlenet", num_classes=3, transform_input=True)
    assert _apply_shapes(model, (15, 15, 3)).shape == (2, 3)  # torchvision's documented minimum size
    with pytest.raises(InputShapeError, match="transform_input=False"):
        _apply_shapes(model, (15, 15, 1))
    with pytest.raises(InputShapeError, match="at least 15x15"):
        _apply_shapes(zoo.create("googlenet"), (14, 14, 3))
