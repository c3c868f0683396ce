"""Attention maps of a BERT-family encoder over one text: which WordPieces each token attends to, per head.

    >>> encoder = SentenceEncoder.pretrained("minilm_l6")
    >>> weights, tokens = text_attention(encoder.model, encoder.variables, encoder.tokenizer, "Great coffee!")
    >>> weights.shape, tokens           # [layers, heads, T, T]
    ((6, 12, 5, 5), ['[CLS]', 'great', 'coffee', '!', '[SEP]'])
    >>> save_text_attention(encoder, "Great coffee!", "attention.png", layer=-1)

The weights are the softmax itself (before attention dropout), rows summing to 1 over the text's tokens.
"""
from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from zoo.errors import ZooError


def text_attention(model, variables, tokenizer, text: str) -> tuple[np.ndarray, list[str]]:
    """(float32 [layers, heads, T, T] attention weights, the T WordPiece tokens) of `text`, [CLS] and [SEP]
    included."""
    batch = tokenizer.with_padding(None)([text])
    ids = jnp.asarray(batch["input_ids"])
    _, _, weights = model.apply(variables, ids, jnp.asarray(batch["token_type_ids"]),
                                attention_mask=jnp.asarray(batch["attention_mask"]), method=model.encode,
                                return_weights=True)
    tokens = [tokenizer.id_to_token(int(i)) for i in batch["input_ids"][0]]
    return np.stack([np.asarray(w[0]) for w in weights]), tokens


def save_text_attention(encoder, text: str, path: str | Path, layer: int = -1) -> Path:
    """A PNG of every head's attention in one layer (default the last) of `encoder` (a SentenceEncoder) over
    `text`."""
    from zoo.vision.attention_maps import save_attention_matrix

    weights, tokens = text_attention(encoder.model, encoder.variables, encoder.tokenizer, text)
    if not -len(weights) <= layer < len(weights):
        raise ZooError(f"layer {layer} does not exist: the model has {len(weights)} layers (0..{len(weights) - 1} "
                       "or -1 for the last)")
    index = layer % len(weights)
    return save_attention_matrix(weights[index], tokens, path, title=f"layer {index}: {text[:60]}")
