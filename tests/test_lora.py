"""LoRA over a params pytree (zoo.layers.lora): merged and unmerged paths agree, only adapters train, files
round-trip and refuse the wrong base model, targets match by whole path names."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from safetensors.numpy import save_file

from helpers import compile_fast
from zoo.errors import SettingError
from zoo.layers.lora import (LoRAConfig, LoRAMismatchError, adapted, adapter_count, check_adapters, init_adapters,
                             lora_loss, merge, target_shapes, trainable_fraction, unmerge)
from zoo.layers.lora_files import load_adapters, save_adapters
from zoo.text.gpt import GPT
from zoo.text.llama import Llama
from zoo.weights.torch_file import WeightsFileError

LLAMA = dict(vocab_size=61, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, mlp_dim=48, max_positions=64)
GPT_TINY = dict(vocab_size=61, hidden_size=32, num_layers=2, num_heads=4, max_positions=64, dropout_rate=0.0,
                attention_dropout_rate=0.0)
TEXT = "the cat sat on the mat and the dog sat on the log; " * 4
IDS = jnp.asarray([[ord(c) % 61 for c in TEXT[i:i + 24]] for i in (0, 7)], jnp.int32)  # [2, 24]
QV = LoRAConfig(rank=4, alpha=8.0)


def _init(model):
    return jax.jit(model.init)(jax.random.key(0), IDS)["params"]


@pytest.fixture(scope="module")
def llama():
    model = Llama(**LLAMA)
    return model, _init(model)


@pytest.fixture(scope="module")
def gpt():
    model = GPT(**GPT_TINY)
    return model, _init(model)


def applies(model, params, adapters, config):
    """(plain apply, apply inside `adapted`) compiled for these shapes; `adapted` is entered inside the jit."""
    plain = compile_fast(lambda p, ids: model.apply({"params": p}, ids), params, IDS)

    def unmerged(p, a, ids):
        with adapted(a, config):
            return model.apply({"params": p}, ids)

    return plain, compile_fast(unmerged, params, adapters, IDS)


def with_random_b(adapters, seed=1, std=0.3):
    keys = iter(jax.random.split(jax.random.key(seed), len(adapters)))
    return {p: {"a": ad["a"], "b": std * jax.random.normal(next(keys), ad["b"].shape, ad["b"].dtype)}
            for p, ad in adapters.items()}


def next_token_loss(model):
    def loss(params, ids):
        logits = model.apply({"params": params}, ids[:, :-1])
        return optax.softmax_cross_entropy_with_integer_labels(logits, ids[:, 1:]).mean()
    return loss


def test_fresh_adapters_change_nothing(llama):
    model, params = llama
    adapters = init_adapters(params, QV, jax.random.key(2))
    assert sorted(adapters) == [f"layers_{i}/attention/{n}" for i in (0, 1) for n in ("query", "value")]
    query, value = adapters["layers_0/attention/query"], adapters["layers_0/attention/value"]
    # Value is [32, 16]: grouped-query attention, 2 key/value heads of 8.
    assert query["a"].shape == (32, 4) and query["b"].shape == (4, 32) and value["b"].shape == (4, 16)
    assert query["a"].dtype == jnp.float32 and not np.any(query["b"]) and np.any(query["a"])
    assert np.abs(query["a"]).max() <= 1 / np.sqrt(32)  # PEFT's U(+-1/sqrt(in))
    merged = merge(params, adapters, QV)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(merged), jax.tree.leaves(params)))
    assert merged["embed_tokens"] is params["embed_tokens"]  # untouched subtrees are shared, not copied
    plain, unmerged = applies(model, params, adapters, QV)
    np.testing.assert_array_equal(unmerged(params, adapters, IDS), plain(params, IDS))


@pytest.mark.parametrize("name, targets", [("llama", ("attention/query", "attention/value")),
                                           ("gpt", ("attention/qkv", "mlp/down"))])
def test_merged_equals_unmerged(name, targets, request):
    model, params = request.getfixturevalue(name)
    config = LoRAConfig(rank=4, alpha=8.0, targets=targets)
    adapters = with_random_b(init_adapters(params, config, jax.random.key(3)))
    assert len(adapters) == 4 and all(p.endswith(targets) for p in adapters)
    plain, unmerged = applies(model, params, adapters, config)
    merged = merge(params, adapters, config)
    jitted = jax.jit(merge, static_argnames="config")(params, adapters, config=config)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(merged), jax.tree.leaves(jitted)))
    base, merged_logits = plain(params, IDS), plain(merged, IDS)
    unmerged_logits = unmerged(params, adapters, IDS)
    scale = float(jnp.abs(base).max())
    assert float(jnp.abs(merged_logits - base).max()) > 0.05 * scale  # the adapters do change the model
    assert float(jnp.abs(merged_logits - unmerged_logits).max()) <= 1e-5 * scale
    back = unmerge(merge(params, adapters, config), adapters, config)
    assert max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params))) < 1e-6


def test_only_adapters_get_gradients_and_optimizer_state(llama):
    model, params = llama
    before = jax.tree.map(np.array, params)
    adapters = init_adapters(params, QV, jax.random.key(4))
    loss = lora_loss(next_token_loss(model), params, QV)
    grad = compile_fast(jax.grad(loss), adapters, IDS)
    grads = grad(adapters, IDS)
    # B = 0 at init: dL/dA = dL/dW' B^T is zero, dL/dB = A^T dL/dW' is not.
    assert all(not np.any(g["a"]) and float(jnp.abs(g["b"]).max()) > 0 for g in grads.values())
    tx = optax.adam(1e-2)
    opt_state = tx.init(adapters)
    updates, opt_state = tx.update(grads, opt_state, adapters)
    stepped = optax.apply_updates(adapters, updates)
    grads = grad(stepped, IDS)
    assert all(float(jnp.abs(g["a"]).max()) > 0 and float(jnp.abs(g["b"]).max()) > 0 for g in grads.values())
    # Nothing reaches the base: not its values, and no gradient even when asked for one through the closure.
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(before)))
    through_base = jax.grad(lambda p: lora_loss(next_token_loss(model), p, QV)(stepped, IDS))
    base_grads = compile_fast(through_base, params)(params)
    assert not any(np.any(g) for g in jax.tree.leaves(base_grads))

    # Optimizer state: Adam's mu and nu for each adapter scalar (+ its step count), vs for every base scalar.
    n = adapter_count(adapters)
    assert n == 2 * 4 * ((32 + 32) + (32 + 16))  # layers x rank x (in + out) for query [32, 32] and value [32, 16]
    total = sum(x.size for x in jax.tree.leaves(params))
    assert total == 2 * 61 * 32 + 32 + 2 * (32 * 32 + 2 * 32 * 16 + 32 * 32 + 3 * 32 * 48 + 2 * 32)  # 19424
    lora_state = sum(x.size for x in jax.tree.leaves(tx.init(adapters)))
    full_state = sum(x.size for x in jax.tree.leaves(tx.init(params)))
    assert lora_state == 2 * n + 1 and full_state == 2 * total + 1
    assert lora_state / full_state == pytest.approx(896 / 19424, rel=1e-3)  # 4.6%: rank 4 at width 32
    assert trainable_fraction(params, adapters) == pytest.approx(896 / (19424 + 896))


def test_adam_steps_lower_the_loss(llama):
    model, params = llama
    # A random base's logits hardly move through its 0.02-scale head, so the head gets an adapter too: any Dense can.
    config = LoRAConfig(rank=4, alpha=8.0, targets=("attention/query", "attention/value", "lm_head"))
    tx = optax.adam(3e-2)

    def step(adapters, opt_state, base, ids):  # the base is a step argument, not a baked-in constant
        loss, grads = jax.value_and_grad(lora_loss(next_token_loss(model), base, config))(adapters, ids)
        updates, opt_state = tx.update(grads, opt_state, adapters)
        return optax.apply_updates(adapters, updates), opt_state, loss

    adapters = init_adapters(params, config, jax.random.key(5))
    opt_state = tx.init(adapters)
    step = compile_fast(step, adapters, opt_state, params, IDS)
    losses = []
    for _ in range(15):
        adapters, opt_state, loss = step(adapters, opt_state, params, IDS)
        losses.append(float(loss))
    assert losses[-1] < 0.6 * losses[0], losses  # 4.11 -> 1.93 when written


def test_save_load_round_trip_and_wrong_base(llama, tmp_path):
    model, params = llama
    config = LoRAConfig(rank=4, alpha=6.5, targets=("attention/query", "attention/value"))
    adapters = with_random_b(init_adapters(params, config, jax.random.key(6)))
    path = save_adapters(tmp_path / "adapters.safetensors", adapters, config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapters.safetensors"]  # no partial file left
    loaded, loaded_config = load_adapters(path, params=params)
    assert loaded_config == config and sorted(loaded) == sorted(adapters)
    assert all(np.array_equal(loaded[p][k], adapters[p][k]) and loaded[p][k].dtype == adapters[p][k].dtype
               for p in adapters for k in ("a", "b"))
    half = jax.tree.map(lambda x: x.astype(jnp.bfloat16), adapters)
    loaded_half, _ = load_adapters(save_adapters(tmp_path / "half.safetensors", half, config))
    assert all(loaded_half[p]["b"].dtype == jnp.bfloat16 and np.array_equal(loaded_half[p]["b"], half[p]["b"])
               for p in half)

    wider = jax.eval_shape(Llama(**{**LLAMA, "hidden_size": 48}).init, jax.random.key(0), IDS)["params"]
    with pytest.raises(LoRAMismatchError) as caught:
        load_adapters(path, params=wider)
    message = str(caught.value)
    assert "4 of 4" in message and "[32, 32] kernel, params have [48, 48]" in message
    assert "layers_1/attention/value: adapter is for a [32, 16] kernel, params have [48, 24]" in message
    with pytest.raises(LoRAMismatchError, match="layers_0/attention/query"):
        merge(wider, adapters, config)
    shallower = jax.eval_shape(Llama(**{**LLAMA, "num_layers": 1}).init, jax.random.key(0), IDS)["params"]
    with pytest.raises(LoRAMismatchError, match="2 of 4 .*\n  layers_1/attention/query: no such kernel"):
        check_adapters(shallower, adapters)

    plain = tmp_path / "model.safetensors"
    save_file({"layers_0/attention/query.lora_a": np.zeros((32, 4), np.float32)}, str(plain))
    with pytest.raises(WeightsFileError, match="no LoRA metadata"):
        load_adapters(plain)


def test_target_matching_rules(llama, gpt):
    _, params = llama
    assert LoRAConfig(targets=("query",)).matches("layers_0/attention/query")
    assert not LoRAConfig(targets=("tention/query",)).matches("layers_0/attention/query")  # whole names only
    assert LoRAConfig(targets="attention/query").targets == ("attention/query",)
    first = LoRAConfig(targets=("layers_0/attention/query",))
    assert list(target_shapes(params, first)) == ["layers_0/attention/query"]
    mlp = target_shapes(params, LoRAConfig(targets=("mlp/gate", "mlp/up", "mlp/down", "attention/out")))
    assert len(mlp) == 8 and mlp["layers_1/mlp/down"] == (48, 32)
    # A config that names Llama's and GPT's projections serves both; one that matches nothing is refused.
    both = LoRAConfig(targets=("attention/query", "attention/value", "attention/qkv"))
    assert len(target_shapes(params, both)) == 4 and len(target_shapes(gpt[1], both)) == 2
    with pytest.raises(SettingError, match="h_0/attention/qkv"):
        init_adapters(gpt[1], QV, jax.random.key(0))
    with pytest.raises(SettingError, match="2-D"):
        target_shapes({"blocks": {"query": {"kernel": jnp.zeros((2, 8, 8))}}}, LoRAConfig(targets=("query",)))
    with pytest.raises(SettingError, match="variables\\['params'\\]"):
        init_adapters({"params": params}, QV, jax.random.key(0))
    for bad in (dict(rank=0), dict(rank=2.0), dict(alpha=float("nan")), dict(targets=("/attention/query",)),
                dict(targets=())):
        with pytest.raises(SettingError):
            LoRAConfig(**bad)


def test_adapted_refuses_a_jit_traced_outside_it(llama):
    model, params = llama
    adapters = init_adapters(params, QV, jax.random.key(7))
    plain = jax.jit(lambda p, ids: model.apply({"params": p}, ids))
    plain(params, IDS)  # traced here, outside the block: inside, the cached program runs without the adapters
    with pytest.raises(SettingError, match="never ran"):
        with adapted(adapters, QV):
            plain(params, IDS)
