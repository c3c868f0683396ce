"""Hugging Face Llama checkpoints (LlamaForCausalLM: Llama, Mistral, SmolLM, Qwen2-style without biases) ->
zoo.text.llama.Llama: the key mapping, written out for this one architecture as nanoGPT's `from_pretrained` is.

    >>> llama_key("model.layers.7.self_attn.k_proj.weight")
    'layers.7.attention.key.weight'
    >>> llama_key("model.layers.0.post_attention_layernorm.weight")
    'layers.0.mlp_norm.weight'

zoo.weights.convert turns Linear weights [out, in] into Dense kernels [in, out] and lists every missing,
unexpected or mis-shaped key. A GGUF file reaches the same names through zoo.weights.gguf, which also undoes
llama.cpp's permutation of the q and k rows.
"""
from __future__ import annotations

import re

# Inside model.layers.N: Hugging Face's module path -> the EncoderBlock's (zoo.layers.transformer_blocks).
_BLOCK = {
    "input_layernorm": "attention_norm",
    "self_attn.q_proj": "attention.query",
    "self_attn.k_proj": "attention.key",
    "self_attn.v_proj": "attention.value",
    "self_attn.o_proj": "attention.out",
    "post_attention_layernorm": "mlp_norm",
    "mlp.gate_proj": "mlp.gate",
    "mlp.up_proj": "mlp.up",
    "mlp.down_proj": "mlp.down",
}
_TOP = {"model.embed_tokens": "embed_tokens", "model.norm": "norm", "lm_head": "lm_head"}
_LAYER = re.compile(r"model\.layers\.(\d+)\.(.+)")


def llama_key(key: str) -> str | None:
    """A Hugging Face Llama key -> the key zoo.weights.convert reads as Llama's variable; None = not a variable
    (rotary inverse-frequency buffers). Unknown keys come back unchanged, so the converter lists them."""
    module, _, leaf = key.rpartition(".")
    if leaf == "inv_freq":
        return None
    match = _LAYER.fullmatch(module)
    if match:
        inner = _BLOCK.get(match.group(2))
        return key if inner is None else f"layers.{match.group(1)}.{inner}.{leaf}"
    return f"{_TOP[module]}.{leaf}" if module in _TOP else key

