"""GPT-2 against Hugging Face: a randomly initialised `transformers.GPT2LMHeadModel` (non-trivial norms and
biases) -> its state dict -> zoo.weights.hf_gpt2 -> zoo.text.gpt.GPT gives the same logits, with and without
padding; a file of another configuration is refused with every offending key listed.

Needs the parity extra (torch, transformers); skips with its reason when one is absent.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.parity
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from zoo.layers.kv_cache import positions_from_mask  # noqa: E402
from zoo.text.gpt import GPT  # noqa: E402
from zoo.weights import WeightsMismatchError, load_pretrained, torch_to_flax  # noqa: E402
from zoo.weights.hf_gpt2 import gpt2_key, gpt2_variables  # noqa: E402

CONFIG = dict(vocab_size=97, n_embd=64, n_layer=3, n_head=4, n_positions=32, bos_token_id=0, eos_token_id=0)
FIELDS = dict(vocab_size=97, hidden_size=64, num_layers=3, num_heads=4, max_positions=32)
BLOCK_KEYS = ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
              "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
              "mlp.c_proj.weight", "mlp.c_proj.bias")


def relative_error(ours, theirs, mask):
    """Largest difference at real tokens over the largest magnitude there: 'relative to their scale'."""
    return float(np.abs(ours - theirs)[mask].max() / np.abs(theirs[mask]).max())


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**CONFIG)).eval()
    with torch.no_grad():  # non-trivial norms and biases, so a swapped scale/bias or a transposed kernel shows
        for name, p in model.named_parameters():
            if ".ln_" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    return model, state


def template(model, length=8):
    return jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, length), jnp.int32))


def their_logits(reference, ids, mask=None, positions=None):
    kwargs = {}
    if mask is not None:
        kwargs["attention_mask"] = torch.tensor(np.asarray(mask), dtype=torch.long)
    if positions is not None:
        kwargs["position_ids"] = torch.tensor(np.asarray(positions), dtype=torch.long)
    with torch.no_grad():
        return reference(input_ids=torch.tensor(np.asarray(ids), dtype=torch.long), **kwargs).logits.numpy()


def test_random_gpt2_logits_match_transformers_with_padding(reference):
    hf, state = reference
    assert "lm_head.weight" in state  # the tied head is in the state dict and skipped by the mapping
    model = GPT(**FIELDS)
    variables = gpt2_variables(state, template(model))
    forward = jax.jit(lambda ids, mask, positions: model.apply(variables, ids, attention_mask=mask,
                                                               positions=positions))
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 97, (3, 20))
    ours = forward(jnp.asarray(ids, jnp.int32), None, None)
    full = np.ones(ids.shape, bool)
    assert relative_error(np.asarray(ours), their_logits(hf, ids), full) <= 1e-4

    # Left padding (the layout batched generation uses): a mask and positions counted from each text's start.
    lengths = np.array([20, 13, 6])
    mask = np.arange(20)[None, :] >= (20 - lengths)[:, None]
    padded = np.where(mask, ids, 0)
    positions = np.asarray(positions_from_mask(jnp.asarray(mask)))
    ours = forward(jnp.asarray(padded, jnp.int32), jnp.asarray(mask), jnp.asarray(positions, jnp.int32))
    assert relative_error(np.asarray(ours), their_logits(hf, padded, mask, positions), mask) <= 1e-4

    # Right padding with its mask.
    mask = np.arange(20)[None, :] < lengths[:, None]
    padded = np.where(mask, ids, 0)
    ours = forward(jnp.asarray(padded, jnp.int32), jnp.asarray(mask), None)
    assert relative_error(np.asarray(ours), their_logits(hf, padded, mask), mask) <= 1e-4


def test_untied_head_loads_lm_head(reference):
    hf, state = reference
    model = GPT(**FIELDS, tie_embeddings=False)
    variables = gpt2_variables(state, template(model), tied=False)
    np.testing.assert_array_equal(variables["params"]["lm_head"]["kernel"], state["lm_head.weight"].T)


def test_conv1d_weights_need_their_own_layout(reference):
    """The converter alone reads GPT-2's [in, out] Conv1D weights as nn.Linear's [out, in]: it refuses."""
    _, state = reference
    with pytest.raises(WeightsMismatchError, match=r"shape mismatches[\s\S]*attn\.c_attn\.weight: file \(64, 192\)"):
        torch_to_flax(state, template(GPT(**FIELDS)), rename=gpt2_key)


def test_mismatched_configurations_list_every_key(reference):
    _, state = reference
    with pytest.raises(WeightsMismatchError) as shallower:
        gpt2_variables(state, template(GPT(**{**FIELDS, "num_layers": 2})))
    message = str(shallower.value)
    assert "in the file but not in the model (12)" in message
    assert all(f"transformer.h.2.{key} " in message for key in BLOCK_KEYS)

    with pytest.raises(WeightsMismatchError) as deeper:
        gpt2_variables(state, template(GPT(**{**FIELDS, "num_layers": 4})))
    message = str(deeper.value)
    assert "missing from the file (12)" in message
    for path in ("attention_norm/scale", "attention_norm/bias", "attention/qkv/kernel", "attention/qkv/bias",
                 "attention/out/kernel", "attention/out/bias", "mlp_norm/scale", "mlp_norm/bias", "mlp/up/kernel",
                 "mlp/up/bias", "mlp/down/kernel", "mlp/down/bias"):
        assert f"params/h_3/{path} " in message

    with pytest.raises(WeightsMismatchError, match=r"shape mismatches \(1\):\s+transformer\.wpe\.weight: file "
                                                   r"\(32, 64\) -> \(32, 64\), model params/wpe/embedding \(16, 64\)"):
        gpt2_variables(state, template(GPT(**{**FIELDS, "max_positions": 16})))


def test_load_pretrained_reads_a_hugging_face_safetensors_file(reference, tmp_path):
    hf, _ = reference
    hf.save_pretrained(tmp_path)  # model.safetensors, as the hub serves it
    model, variables = load_pretrained("gpt_nano", tmp_path / "model.safetensors", strict=True, **FIELDS)
    ids = np.random.default_rng(1).integers(0, 97, (2, 16))
    ours = np.asarray(model.apply(variables, jnp.asarray(ids, jnp.int32)))
    assert relative_error(ours, their_logits(hf, ids), np.ones(ids.shape, bool)) <= 1e-4
