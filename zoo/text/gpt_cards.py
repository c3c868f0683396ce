"""Registry cards of the GPT family: `gpt_nano` (a baby GPT that trains on characters on a CPU) and `gpt2`
(GPT-2 small, 124M, whose Hugging Face weights load through zoo.weights.hf_gpt2).

Both are language models (train.tasks.language_model: logits [B, T, V] against the next tokens [B, T]); the
task sets vocab_size from the data set. A run reads the data set's own tokens (characters of Shakespeare by
default); gpt2's reference figure is on GPT-2's BPE tokens of OpenWebText.
"""
from __future__ import annotations

from zoo.layers.examples import token_ids
from zoo.registry import Reference, register_model
from zoo.text.gpt import GPT

INPUT_SPEC = ("int32 token ids [B, T], T <= max_positions; optional attention_mask [B, T] (1 at real tokens) "
              "and positions [B, T]")

# nanoGPT's CPU command for its baby GPT (README, 'I only have a macbook'): 4 layers, 4 heads, 128 wide,
# block_size 64, batch 12, AdamW lr 1e-3 (beta2 0.99), weight decay 0.1, 100 warm-up steps, cosine decay over
# 2000 iterations, clipping at 1.0, dropout 0. Transcribed, not yet measured here: nanoGPT draws random windows
# of tiny Shakespeare (1 M characters), while this repository's `shakespeare` cuts non-overlapping windows of
# the complete works (5 M), so one epoch at batch 12 is about 5,900 steps, three times nanoGPT's 2000.
NANO_RECIPE = {"epochs": 1, "batch_size": 12, "seq_len": 64, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.1,
               "schedule": "cosine", "warmup_steps": 100, "clip_norm": 1.0}
# nanoGPT's config/train_gpt2.py: AdamW lr 6e-4 (betas 0.9, 0.95), weight decay 0.1, 2000 warm-up steps, cosine
# decay, clipping at 1.0, 480 sequences of 1024 tokens per step (12 x 40 gradient-accumulation micro-batches),
# dropout 0; 600k steps on OpenWebText.
GPT2_RECIPE = {"batch_size": 480, "seq_len": 1024, "optimizer": "adamw", "lr": 6e-4, "weight_decay": 0.1,
               "schedule": "cosine", "warmup_steps": 2000, "clip_norm": 1.0}


def language_model_card(input_spec: str) -> dict:
    """The card fields every decoder-only language model shares (GPT, Llama): trained by the language-model task
    on the data set's tokens, whose vocabulary size the data decides."""
    return dict(family="text", task="language_model", loss="softmax_cross_entropy", default_dataset="shakespeare",
                input_spec=input_spec, example_input_shape=(32,), example=token_ids, input_dtype="int32",
                data_fields={"vocab_size": "vocab_size"})


def register_all() -> None:
    common = language_model_card(INPUT_SPEC)
    register_model(
        "gpt_nano", GPT, **common,
        reference=Reference(
            "val_loss", 1.88, "tiny Shakespeare (nanoGPT's shakespeare_char: 1.1 M characters, 90/10 split)",
            "nanoGPT README (Karpathy, github.com/karpathy/nanoGPT), the CPU 'baby GPT' run of this size: "
            "4 layers, 4 heads, 128 wide, context 64, 2000 iterations of batch 12, dropout 0 -> validation loss "
            "1.88 nats/char in about 3 CPU minutes. Measured here on the complete works (5 M characters): 1.615 "
            "validation nats/char after 3,096 steps of batch 16 x 128, AdamW 3e-3 (12.5 min on 2 CPU cores; "
            "benchmarks/lm_equal_time.py)"),
        description="A baby GPT (nanoGPT's CPU configuration): GPT-2's architecture at 4 layers, 128 wide, 4 heads, "
                    "context 256, no dropout; for character-level Shakespeare on a CPU.",
        defaults={"vocab_size": 88, "hidden_size": 128, "num_layers": 4, "num_heads": 4, "max_positions": 256,
                  "dropout_rate": 0.0, "attention_dropout_rate": 0.0},
        recipe=NANO_RECIPE)
    register_model(
        "gpt2", GPT, **common,
        reference=Reference(
            "val_loss", 2.85, "OpenWebText (GPT-2 BPE tokens)",
            "nanoGPT README (Karpathy, github.com/karpathy/nanoGPT), 'reproducing GPT-2': config/train_gpt2.py "
            "on OpenWebText, 8 x A100 for about 4 days, reaches ~2.85; OpenAI's released 124M weights score 3.12 "
            "there without fine-tuning (WebText/OpenWebText domain gap)"),
        description="GPT-2 small (Radford et al. 2019): 12 pre-LN layers, 768 wide, 12 heads, context 1024, vocabulary "
                    "50257, tied input/output embedding (124,439,808 parameters). Hugging Face GPT-2 files load "
                    "with zoo.weights.load_pretrained('gpt2', 'model.safetensors') (zoo.weights.hf_gpt2).",
        defaults={"vocab_size": 50257, "hidden_size": 768, "num_layers": 12, "num_heads": 12, "max_positions": 1024},
        recipe=GPT2_RECIPE)
