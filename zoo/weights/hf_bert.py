"""Hugging Face BERT checkpoints -> zoo.text.bert.Bert: the key mapping, one rule per layer kind.

Like nanoGPT's `from_pretrained`, the mapping is written out for this one architecture; the layouts
(Linear [out, in] -> Dense kernel [in, out], weight -> embedding / scale) are resolved by
zoo.weights.convert against the model's own variables, which lists every missing, unexpected or mis-shaped
key. It reads `BertModel` files (`embeddings.*`, `encoder.layer.N.*`, `pooler.*`), the same under a `bert.`
prefix (`BertForPreTraining`, `BertForSequenceClassification`), old TensorFlow-converted names
(`LayerNorm.gamma` / `.beta`), and the pre-training heads (`cls.predictions.*`, `cls.seq_relationship.*`).

    >>> bert_key("encoder.layer.3.attention.self.query.weight")
    'layer.3.attention.query.weight'
    >>> bert_key("embeddings.LayerNorm.gamma")
    'embeddings_norm.weight'
"""
from __future__ import annotations

import re

# Inside encoder.layer.N: Hugging Face's module path -> the EncoderBlock's (zoo.layers.transformer_blocks).
_BLOCK = {
    "attention.self.query": "attention.query",
    "attention.self.key": "attention.key",
    "attention.self.value": "attention.value",
    "attention.output.dense": "attention.out",
    "attention.output.LayerNorm": "attention_norm",
    "intermediate.dense": "mlp.up",
    "output.dense": "mlp.down",
    "output.LayerNorm": "mlp_norm",
}
# Everything outside the blocks.
_TOP = {
    "embeddings.word_embeddings": "word_embeddings",
    "embeddings.position_embeddings": "position_embeddings",
    "embeddings.token_type_embeddings": "token_type_embeddings",
    "embeddings.LayerNorm": "embeddings_norm",
    "pooler.dense": "pooler",
    "classifier": "classifier",
    # Pre-training heads (zoo.text.bert_pretraining): the MLM transform, its output bias, NSP.
    "cls.predictions.transform.dense": "mlm_transform",
    "cls.predictions.transform.LayerNorm": "mlm_norm",
    "cls.seq_relationship": "nsp",
}
_LEAF = {"gamma": "weight", "beta": "bias", "weight": "weight", "bias": "bias"}
_LAYER = re.compile(r"encoder\.layer\.(\d+)\.(.+)")
# Buffers, and the MLM decoder matrix, which is the word-embedding table itself (tied).
_NOT_VARIABLES = ("embeddings.position_ids", "cls.predictions.decoder.weight")


def bert_key(key: str) -> str | None:
    """A Hugging Face BERT key -> the key zoo.weights.convert reads as Bert's variable; None = not a variable."""
    if key.startswith("bert."):
        key = key[len("bert."):]
    if key in _NOT_VARIABLES:
        return None
    if key in ("cls.predictions.bias", "cls.predictions.decoder.bias"):
        return "mlm_bias.bias"
    module, _, leaf = key.rpartition(".")
    if leaf not in _LEAF:
        return key  # unknown: kept as it is, so the converter lists it as unexpected
    match = _LAYER.fullmatch(module)
    if match:
        index, inner = match.groups()
        renamed = _BLOCK.get(inner)
        return f"layer.{index}.{renamed}.{_LEAF[leaf]}" if renamed else key
    renamed = _TOP.get(module)
    return f"{renamed}.{_LEAF[leaf]}" if renamed else key
