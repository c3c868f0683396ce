"""Transformer layers (zoo.layers): attention, masks, positions, norms, feed-forward and blocks.

The attention and the blocks are checked against torch.nn with the same weights; masking, positions and
mixed precision by the behaviour a model relies on."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rounding import assert_equal_up_to_rounding
from zoo.errors import InputShapeError
from zoo.layers import (DecoderBlock, EncoderBlock, FeedForward, LearnedPositions, MultiHeadAttention, RMSNorm,
                        SinusoidalPositions, SwiGLU, apply_rotary, causal_mask, combine_masks, feed_forward,
                        padding_mask, sinusoidal_table)

BATCH, STEPS, MEMORY_STEPS, WIDTH, HEADS, MLP = 3, 7, 5, 16, 4, 32
# Real tokens per example (right padding); every example keeps at least one, so no query is left with no key.
LENGTHS, MEMORY_LENGTHS = np.array([7, 4, 1]), np.array([5, 2, 3])


def lengths_mask(lengths, steps):
    return np.arange(steps)[None, :] < lengths[:, None]  # [B, T] True at real tokens


def normal(seed, *shape, scale=1.0):
    return (scale * np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


def with_junk(x, keep, seed=99):
    """x [B, T, D] with every position where keep [B, T] is False replaced by large noise."""
    return jnp.where(jnp.asarray(keep)[..., None], x, normal(seed, *x.shape, scale=100.0))


# --- PyTorch references ------------------------------------------------------------------------------------

def torch_module(make):
    """A torch module from `make()`, seeded, with every parameter (biases and norms too) drawn N(0, 0.3)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = make(torch.nn).eval()
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.3)
    return module


@pytest.fixture
def torch_math_path():
    """torch's reference arithmetic: its fused inference kernels (the 'fast path') are switched off."""
    torch = pytest.importorskip("torch")
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    yield torch
    torch.backends.mha.set_fastpath_enabled(enabled)


def _np(t):
    return t.detach().numpy()


def linear_from_torch(linear):
    return {"kernel": _np(linear.weight).T, "bias": _np(linear.bias)}


def layernorm_from_torch(norm):
    return {"scale": _np(norm.weight), "bias": _np(norm.bias)}


def attention_from_torch(mha, fused_qkv=False):
    """torch.nn.MultiheadAttention -> MultiHeadAttention params: in_proj_weight [3D, D] holds q, k, v in rows."""
    weight, bias = _np(mha.in_proj_weight), _np(mha.in_proj_bias)
    params = {"out": linear_from_torch(mha.out_proj)}
    if fused_qkv:
        return {"qkv": {"kernel": weight.T, "bias": bias}, **params}
    for name, w, b in zip(("query", "key", "value"), np.split(weight, 3), np.split(bias, 3)):
        params[name] = {"kernel": w.T, "bias": b}
    return params


def mlp_from_torch(layer):
    return {"up": linear_from_torch(layer.linear1), "down": linear_from_torch(layer.linear2)}


def encoder_from_torch(layer, fused_qkv=False):
    return {"attention": attention_from_torch(layer.self_attn, fused_qkv),
            "attention_norm": layernorm_from_torch(layer.norm1),
            "mlp": mlp_from_torch(layer), "mlp_norm": layernorm_from_torch(layer.norm2)}


def decoder_from_torch(layer):
    return {"self_attention": attention_from_torch(layer.self_attn),
            "self_attention_norm": layernorm_from_torch(layer.norm1),
            "cross_attention": attention_from_torch(layer.multihead_attn),
            "cross_attention_norm": layernorm_from_torch(layer.norm2),
            "mlp": mlp_from_torch(layer), "mlp_norm": layernorm_from_torch(layer.norm3)}


def assert_fits(model, ported, *args, **kwargs):
    """The ported params have exactly the names and shapes the flax module creates (none missing, none unused)."""
    created = jax.eval_shape(lambda: model.init(jax.random.key(0), *args, **kwargs))["params"]
    shapes = jax.tree.map(lambda a: tuple(a.shape), created)
    assert jax.tree.map(lambda a: tuple(np.shape(a)), ported) == shapes
    return {"params": jax.tree.map(jnp.asarray, ported)}


def torch_blocked(torch, keep):
    """Our keep mask (True = real) as torch's key_padding_mask (True = ignore)."""
    return torch.from_numpy(~np.asarray(keep))


def torch_causal(torch, steps):
    return torch.triu(torch.ones(steps, steps, dtype=torch.bool), diagonal=1)  # True above the diagonal: blocked


# --- multi-head attention against torch.nn.MultiheadAttention -------------------------------------------------

CASES = {  # name: (cross attention, key padding, causal, fused qkv)
    "self": (False, False, False, False),
    "self_padding": (False, True, False, False),
    "self_causal": (False, False, True, False),
    "self_padding_causal_fused": (False, True, True, True),
    "cross_padding": (True, True, False, False),
}


@pytest.mark.parity
@pytest.mark.parametrize("case", CASES)
def test_multi_head_attention_matches_torch(case, torch_math_path):
    torch = torch_math_path
    cross, padded, causal, fused = CASES[case]
    net = torch_module(lambda nn: nn.MultiheadAttention(WIDTH, HEADS, batch_first=True))
    x = normal(1, BATCH, STEPS, WIDTH)
    kv = normal(2, BATCH, MEMORY_STEPS, WIDTH) if cross else x
    keep = lengths_mask(MEMORY_LENGTHS if cross else LENGTHS, kv.shape[1]) if padded else None
    with torch.no_grad():
        want, want_weights = net(torch.from_numpy(x), torch.from_numpy(kv), torch.from_numpy(kv),
                                 key_padding_mask=None if keep is None else torch_blocked(torch, keep),
                                 attn_mask=torch_causal(torch, STEPS) if causal else None,
                                 need_weights=True, average_attn_weights=False)
    model = MultiHeadAttention(num_heads=HEADS, fused_qkv=fused)
    inputs_kv = kv if cross else None
    kwargs = dict(key_mask=keep, causal=causal)
    variables = assert_fits(model, attention_from_torch(net, fused), x, inputs_kv, **kwargs)
    got, got_weights = model.apply(variables, x, inputs_kv, return_weights=True, **kwargs)
    assert got.shape == (BATCH, STEPS, WIDTH) and got_weights.shape == (BATCH, HEADS, STEPS, kv.shape[1])
    assert_equal_up_to_rounding(got, _np(want), terms=100)
    assert_equal_up_to_rounding(got_weights, _np(want_weights), terms=100, scale=1.0)


# --- blocks against torch.nn.TransformerEncoderLayer / TransformerDecoderLayer ---------------------------------

@pytest.mark.parity
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_encoder_block_matches_torch(norm_first, torch_math_path):
    torch = torch_math_path
    net = torch_module(lambda nn: nn.TransformerEncoderLayer(WIDTH, HEADS, MLP, dropout=0.0, activation="gelu",
                                                             batch_first=True, norm_first=norm_first))
    x, keep = normal(1, BATCH, STEPS, WIDTH), lengths_mask(LENGTHS, STEPS)
    with torch.no_grad():
        want = net(torch.from_numpy(x), src_key_padding_mask=torch_blocked(torch, keep))
    model = EncoderBlock(num_heads=HEADS, mlp_dim=MLP, norm_first=norm_first)
    variables = assert_fits(model, encoder_from_torch(net), x, token_mask=keep)
    got = model.apply(variables, x, token_mask=keep)
    assert_equal_up_to_rounding(got, _np(want), terms=200)


@pytest.mark.parity
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_decoder_block_matches_torch(norm_first, torch_math_path):
    torch = torch_math_path
    net = torch_module(lambda nn: nn.TransformerDecoderLayer(WIDTH, HEADS, MLP, dropout=0.0, activation="gelu",
                                                             batch_first=True, norm_first=norm_first))
    x, memory = normal(1, BATCH, STEPS, WIDTH), normal(2, BATCH, MEMORY_STEPS, WIDTH)
    memory_keep = lengths_mask(MEMORY_LENGTHS, MEMORY_STEPS)
    with torch.no_grad():
        want = net(torch.from_numpy(x), torch.from_numpy(memory), tgt_mask=torch_causal(torch, STEPS),
                   memory_key_padding_mask=torch_blocked(torch, memory_keep))
    model = DecoderBlock(num_heads=HEADS, mlp_dim=MLP, norm_first=norm_first)
    variables = assert_fits(model, decoder_from_torch(net), x, memory, memory_mask=memory_keep)
    got = model.apply(variables, x, memory, memory_mask=memory_keep)
    assert_equal_up_to_rounding(got, _np(want), terms=300)


# --- masking behaviour ---------------------------------------------------------------------------------------

def test_mask_helpers_combine_padding_and_causal():
    np.testing.assert_array_equal(causal_mask(2, 4)[0, 0], [[1, 1, 1, 0], [1, 1, 1, 1]])  # the last 2 of 4
    keep = jnp.array([[1, 1, 0]], bool)
    combined = combine_masks(padding_mask(keep), causal_mask(3))
    assert combined.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(combined[0, 0], [[1, 0, 0], [1, 1, 0], [1, 1, 0]])
    assert combine_masks(None, None) is None


CAUSAL_MODELS = {
    "gpt_style": EncoderBlock(num_heads=HEADS, mlp_dim=MLP, norm_first=True, causal=True, fused_qkv=True),
    "llama_style": EncoderBlock(num_heads=HEADS, mlp_dim=MLP, norm_first=True, causal=True, norm="rmsnorm",
                                activation="swiglu", use_bias=False, rotary_base=10000.0),
    "decoder": DecoderBlock(num_heads=HEADS, mlp_dim=MLP),
}


@pytest.mark.parametrize("name", CAUSAL_MODELS)
def test_causal_output_ignores_later_tokens(name):
    model = CAUSAL_MODELS[name]
    x = jnp.asarray(normal(1, BATCH, STEPS, WIDTH))
    extra = (jnp.asarray(normal(2, BATCH, MEMORY_STEPS, WIDTH)),) if name == "decoder" else ()
    variables = model.init(jax.random.key(0), x, *extra)
    before = model.apply(variables, x, *extra)
    for t in (0, 3, STEPS - 2):
        changed = with_junk(x, np.arange(STEPS)[None, :] <= t)  # every token after t replaced
        after = model.apply(variables, changed, *extra)
        np.testing.assert_allclose(after[:, :t + 1], before[:, :t + 1], rtol=1e-5, atol=1e-5)
        assert np.abs(np.asarray(after[:, t + 1:] - before[:, t + 1:])).max() > 0.1  # the later ones do move


def test_padding_contents_do_not_change_real_tokens():
    x, keep = jnp.asarray(normal(1, BATCH, STEPS, WIDTH)), lengths_mask(LENGTHS, STEPS)
    junk = with_junk(x, keep)
    model = EncoderBlock(num_heads=HEADS, mlp_dim=MLP)
    variables = model.init(jax.random.key(0), x, token_mask=keep)
    clean, dirty = model.apply(variables, x, token_mask=keep), model.apply(variables, junk, token_mask=keep)
    np.testing.assert_allclose(np.asarray(dirty)[keep], np.asarray(clean)[keep], rtol=1e-5, atol=1e-5)
    unmasked = model.apply(variables, junk)  # without the mask the junk does leak: the test can tell
    assert np.abs(np.asarray(unmasked)[keep] - np.asarray(clean)[keep]).max() > 0.1
    _, weights = model.apply(variables, junk, token_mask=keep, return_weights=True)
    assert np.all(np.asarray(weights).transpose(0, 3, 1, 2)[~keep] == 0.0)  # padded keys weigh exactly 0


def test_decoder_ignores_padded_memory():
    x, memory = jnp.asarray(normal(1, BATCH, STEPS, WIDTH)), jnp.asarray(normal(2, BATCH, MEMORY_STEPS, WIDTH))
    keep = lengths_mask(MEMORY_LENGTHS, MEMORY_STEPS)
    model = DecoderBlock(num_heads=HEADS, mlp_dim=MLP, norm_first=True)
    variables = model.init(jax.random.key(0), x, memory, memory_mask=keep)
    clean = model.apply(variables, x, memory, memory_mask=keep)
    dirty, weights = model.apply(variables, x, with_junk(memory, keep), memory_mask=keep, return_weights=True)
    np.testing.assert_allclose(dirty, clean, rtol=1e-5, atol=1e-5)
    assert weights["self"].shape == (BATCH, HEADS, STEPS, STEPS)
    assert weights["cross"].shape == (BATCH, HEADS, STEPS, MEMORY_STEPS)
    np.testing.assert_allclose(weights["cross"].sum(-1), 1.0, rtol=1e-6)


# --- dropout -------------------------------------------------------------------------------------------------

def test_attention_dropout_only_in_training_and_from_the_dropout_rng():
    x = jnp.asarray(normal(1, BATCH, STEPS, WIDTH))
    model = MultiHeadAttention(num_heads=HEADS, dropout_rate=0.5)
    variables = model.init(jax.random.key(0), x)
    plain = MultiHeadAttention(num_heads=HEADS).apply(variables, x)
    np.testing.assert_array_equal(model.apply(variables, x), plain)  # eval: no dropout, no rng needed

    def train(seed):
        return model.apply(variables, x, train=True, return_weights=True, rngs={"dropout": jax.random.key(seed)})

    (out_a, weights_a), (out_b, _), (out_a2, _) = train(1), train(2), train(1)
    np.testing.assert_array_equal(out_a, out_a2)
    assert np.abs(np.asarray(out_a - plain)).max() > 0.1 and np.abs(np.asarray(out_a - out_b)).max() > 0.1
    np.testing.assert_allclose(weights_a.sum(-1), 1.0, rtol=1e-6)  # the returned map is taken before dropout


# --- positions -----------------------------------------------------------------------------------------------

def test_sinusoidal_table_is_the_paper_formula():
    positions, dim = np.arange(50), 12
    want = np.zeros((50, dim))
    for pos in positions:
        for i in range(dim // 2):
            want[pos, 2 * i] = np.sin(pos / 10000 ** (2 * i / dim))
            want[pos, 2 * i + 1] = np.cos(pos / 10000 ** (2 * i / dim))
    np.testing.assert_allclose(sinusoidal_table(jnp.asarray(positions), dim), want, atol=2e-5)
    x = jnp.asarray(normal(1, 2, 6, dim))
    shifted = SinusoidalPositions().apply({}, x, positions=jnp.arange(10, 16))
    np.testing.assert_allclose(shifted, x + want[10:16], atol=2e-5)


def test_learned_positions_add_their_rows_and_refuse_long_inputs():
    model = LearnedPositions(max_length=8)
    x = jnp.asarray(normal(1, 2, 5, 4))
    variables = model.init(jax.random.key(0), x)
    table = variables["params"]["embedding"]
    assert table.shape == (8, 4)
    np.testing.assert_allclose(model.apply(variables, x), x + table[:5], rtol=1e-6)
    rows = jnp.array([5, 7])  # positions after an offset (decoding), not 0..T-1
    np.testing.assert_allclose(model.apply(variables, x[:, :2], positions=rows), x[:, :2] + table[rows], rtol=1e-6)
    with pytest.raises(InputShapeError, match="max_length"):
        model.apply(variables, jnp.zeros((1, 9, 4)))


def hf_llama_rotary(q_bhtd, k_bhtd, position_ids, base=10000.0):
    """NumPy transcription of transformers' LlamaRotaryEmbedding + apply_rotary_pos_emb (rotate_half layout)."""
    dim = q_bhtd.shape[-1]
    inv_freq = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim))
    freqs = position_ids[:, :, None].astype(np.float32) * inv_freq[None, None, :]  # [B, T, D/2]
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos, sin = np.cos(emb)[:, None], np.sin(emb)[:, None]  # unsqueeze_dim=1: [B, 1, T, D]

    def rotate_half(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return np.concatenate((-x2, x1), axis=-1)

    return q_bhtd * cos + rotate_half(q_bhtd) * sin, k_bhtd * cos + rotate_half(k_bhtd) * sin


def test_rotary_matches_hugging_face_llama():
    q, k = normal(1, 2, 3, 6, 8), normal(2, 2, 3, 6, 8)  # [B, H, T, Dh], HF's layout
    position_ids = np.array([[0, 1, 2, 3, 4, 5], [7, 8, 9, 30, 31, 60]])
    want_q, want_k = hf_llama_rotary(q, k, position_ids)
    for x, want in ((q, want_q), (k, want_k)):
        got = apply_rotary(jnp.asarray(x.transpose(0, 2, 1, 3)), jnp.asarray(position_ids))  # ours: [B, T, H, Dh]
        np.testing.assert_allclose(np.asarray(got).transpose(0, 2, 1, 3), want, atol=2e-5)


def test_rotary_scores_depend_on_relative_position_only():
    steps, dim = 12, 16
    q, k = jnp.asarray(normal(1, dim)), jnp.asarray(normal(2, dim))

    def scores(offset):  # the same q and k vectors at every position, rotated: S[m, n] = q_m . k_n
        positions = jnp.arange(steps) + offset
        rotated_q = apply_rotary(jnp.broadcast_to(q, (1, steps, 1, dim)), positions)[0, :, 0]
        rotated_k = apply_rotary(jnp.broadcast_to(k, (1, steps, 1, dim)), positions)[0, :, 0]
        return np.asarray(rotated_q @ rotated_k.T)

    s = scores(0)
    np.testing.assert_allclose(s[1:, 1:], s[:-1, :-1], atol=1e-4)  # constant along diagonals: a function of m - n
    np.testing.assert_allclose(scores(37), s, atol=1e-4)  # and unchanged when every position shifts
    assert np.ptp(s[0]) > 0.1  # ... yet the scores do vary with the distance (unrotated, all would be equal)


def test_rotary_attention_is_shift_invariant_and_position_aware():
    x = jnp.asarray(normal(1, BATCH, STEPS, WIDTH))
    model = MultiHeadAttention(num_heads=HEADS, rotary_base=10000.0)
    variables = model.init(jax.random.key(0), x, causal=True)
    base = model.apply(variables, x, causal=True)
    np.testing.assert_allclose(model.apply(variables, x, causal=True, positions=jnp.arange(STEPS) + 50), base,
                               atol=1e-4)
    without = MultiHeadAttention(num_heads=HEADS).apply(variables, x, causal=True)
    assert np.abs(np.asarray(without - base)).max() > 0.05


# --- norms and feed-forward ----------------------------------------------------------------------------------

def test_rms_norm_matches_numpy():
    x = normal(1, 2, 5, 8) + 3.0  # a large mean: RMSNorm must not centre it (LayerNorm would)
    scale = normal(2, 8)
    got = RMSNorm(epsilon=1e-6).apply({"params": {"scale": jnp.asarray(scale)}}, jnp.asarray(x))
    want = x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=-1, keepdims=True) + 1e-6) * scale
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_swiglu_gates_the_up_projection():
    x = normal(1, 2, 5, 8)
    model = feed_forward("swiglu", 12)
    assert isinstance(model, SwiGLU)
    variables = model.init(jax.random.key(0), x)
    assert set(variables["params"]) == {"gate", "up", "down"}
    assert all(set(layer) == {"kernel"} for layer in variables["params"].values())  # Llama's: no biases
    p = jax.tree.map(np.asarray, variables["params"])
    gate = x @ p["gate"]["kernel"]
    want = (gate / (1 + np.exp(-gate)) * (x @ p["up"]["kernel"])) @ p["down"]["kernel"]
    np.testing.assert_allclose(model.apply(variables, x), want, rtol=1e-5, atol=1e-6)
    wider = SwiGLU(hidden_features=12, out_features=3)
    assert wider.apply(wider.init(jax.random.key(0), x), x).shape == (2, 5, 3)


def test_feed_forward_gelu_is_the_exact_erf_form():
    x = normal(1, 4, 8, scale=3.0)  # wide enough that the tanh approximation would be off by ~1e-3
    model = FeedForward(hidden_features=16)
    variables = model.init(jax.random.key(0), x)
    p = jax.tree.map(np.asarray, variables["params"])
    hidden = x.astype(np.float64) @ p["up"]["kernel"] + p["up"]["bias"]
    from scipy.special import erf

    gelu = 0.5 * hidden * (1 + erf(hidden / np.sqrt(2)))
    np.testing.assert_allclose(model.apply(variables, x), gelu @ p["down"]["kernel"] + p["down"]["bias"],
                               rtol=1e-5, atol=1e-5)


# --- mixed precision -----------------------------------------------------------------------------------------

MIXED = {
    "attention_cross": lambda dtype: (MultiHeadAttention(num_heads=HEADS, dtype=dtype), True),
    "encoder_post_ln": lambda dtype: (EncoderBlock(num_heads=HEADS, mlp_dim=MLP, dtype=dtype), False),
    "encoder_llama_style": lambda dtype: (EncoderBlock(num_heads=HEADS, mlp_dim=MLP, norm_first=True, causal=True,
                                                       norm="rmsnorm", activation="swiglu", rotary_base=10000.0,
                                                       dtype=dtype), False),
    "decoder_pre_ln": lambda dtype: (DecoderBlock(num_heads=HEADS, mlp_dim=MLP, norm_first=True, dtype=dtype), True),
}


@pytest.mark.parametrize("name", MIXED)
def test_bfloat16_compute_keeps_float32_params_and_stays_close(name):
    model16, needs_memory = MIXED[name](jnp.bfloat16)
    model32, _ = MIXED[name](None)
    x = jnp.asarray(normal(1, BATCH, STEPS, WIDTH))
    args = (x, jnp.asarray(normal(2, BATCH, MEMORY_STEPS, WIDTH))) if needs_memory else (x,)
    variables = model16.init(jax.random.key(0), *args)
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    got, want = model16.apply(variables, *args), model32.apply(variables, *args)
    assert got.dtype == jnp.bfloat16 and want.dtype == jnp.float32
    scale = float(np.abs(np.asarray(want)).max())
    # bf16 keeps ~3 significant digits; these models measured 0.5% of the output scale off their float32 selves.
    np.testing.assert_allclose(np.asarray(got, np.float32), want, rtol=0, atol=0.015 * scale)


def test_rms_norm_and_positions_follow_the_compute_dtype():
    x = jnp.asarray(normal(1, 2, 5, 8))
    norm = RMSNorm(dtype=jnp.bfloat16)
    variables = norm.init(jax.random.key(0), x)
    assert variables["params"]["scale"].dtype == jnp.float32 and norm.apply(variables, x).dtype == jnp.bfloat16
    assert SinusoidalPositions(dtype=jnp.bfloat16).apply({}, x).dtype == jnp.bfloat16


# --- bad input -----------------------------------------------------------------------------------------------

def test_bad_inputs_name_the_fix():
    x = jnp.ones((2, 5, WIDTH))
    with pytest.raises(InputShapeError, match="key_mask"):
        MultiHeadAttention(num_heads=HEADS).init(jax.random.key(0), x, key_mask=jnp.ones((2, 4), bool))
    with pytest.raises(ValueError, match="fused_qkv=False"):
        MultiHeadAttention(num_heads=HEADS, fused_qkv=True).init(jax.random.key(0), x, jnp.ones((2, 3, WIDTH)))
    with pytest.raises(ValueError, match="head_dim"):
        MultiHeadAttention(num_heads=3).init(jax.random.key(0), x)
    with pytest.raises(InputShapeError, match=r"\[B, T, D\]"):
        EncoderBlock(num_heads=HEADS, mlp_dim=MLP).init(jax.random.key(0), jnp.ones((5, WIDTH)))
    with pytest.raises(ValueError, match="swiglu"):
        EncoderBlock(num_heads=HEADS, mlp_dim=MLP, activation="geglu").init(jax.random.key(0), x)


def test_old_import_path_still_serves_the_recurrent_attention():
    import zoo.layers
    from zoo.sequence import attention

    assert attention.BahdanauAttention is zoo.layers.BahdanauAttention
    assert attention.LuongAttention is zoo.layers.LuongAttention
    assert attention.masked_softmax is zoo.layers.masked_softmax
