"""BERT pre-training (Devlin et al. 2019, section 3.1): the encoder with its two pre-training heads.

    ids [B, T], token_types [B, T] --Bert.encode--> hidden [B, T, D]
        masked LM:  hidden (at the masked positions [B, P], or everywhere) --dense, exact GELU, LayerNorm-->
                    @ word_embeddings^T (the decoder is the input embedding table, tied) + bias  -> logits [B, P, V]
        next sentence:  pooler tanh(W h_[CLS]) --dense--> logits [B, 2]  (0: B follows A, 1: B is random)

`BertPretraining` subclasses `Bert`, so the encoder's parameters keep their top-level names and the heads sit
beside them as `mlm_transform`, `mlm_norm`, `mlm_bias` and `nsp`: a Hugging Face `BertForPreTraining` state
dict loads through zoo.weights.convert.torch_to_flax(state_dict, template, rename=zoo.weights.hf_bert.bert_key).

`__call__` returns the masked-LM logits at every position (Hugging Face's `prediction_logits`); `pretrain`
returns both heads and, given `masked_positions`, runs the [V]-wide decoder only where the loss is taken (the
original implementation's gather), which is most of a small model's step on a large vocabulary.

The card `bert_mini` is a small BERT pre-trained from scratch on Shakespeare (train.tasks.masked_lm, data set
`shakespeare_pairs`: a word-level vocabulary built from the train split, not WordPiece).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.errors import InputShapeError, SettingError
from zoo.layers.examples import token_ids
from zoo.registry import Reference, register_model
from zoo.text.bert import Bert


class MLMBias(nn.Module):
    """The masked-LM decoder's output bias [V] (Hugging Face's `cls.predictions.bias`)."""

    vocab_size: int
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, logits):
        return logits + self.param("bias", nn.initializers.zeros, (self.vocab_size,), self.param_dtype)


class BertPretraining(Bert):
    """ids int32 [B, T] -> masked-LM logits [B, T, V]; `pretrain` gives (MLM logits, NSP logits [B, 2])."""

    next_sentence: bool = True  # the NSP head; False trains the masked LM alone (RoBERTa's choice)

    def setup(self):
        if self.num_classes:
            raise SettingError("BertPretraining: num_classes must be 0 (its heads are the masked LM and NSP); "
                               "fine-tune a classifier with the `bert` card")
        if self.next_sentence and not self.add_pooler:
            raise SettingError("BertPretraining: next-sentence prediction reads the pooler, so it needs "
                               "add_pooler=True (or next_sentence=False)")
        super().setup()
        common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        init = nn.initializers.normal(0.02)
        self.mlm_transform = nn.Dense(self.hidden_size, kernel_init=init, **common)
        self.mlm_norm = nn.LayerNorm(epsilon=self.norm_eps, **common)
        self.mlm_bias = MLMBias(self.vocab_size, self.param_dtype)
        if self.next_sentence:
            self.nsp = nn.Dense(2, kernel_init=init, **common)

    def __call__(self, ids, token_types=None, *, attention_mask=None, train: bool = False):
        """Masked-LM logits float32 [B, T, V] at every position."""
        mlm_logits, _ = self.pretrain(ids, token_types, attention_mask=attention_mask, train=train)
        return mlm_logits

    def pretrain(self, ids, token_types=None, *, attention_mask=None, masked_positions=None, train: bool = False):
        """(masked-LM logits float32 [B, P, V] at `masked_positions` int [B, P] (every position [B, T] if None),
        next-sentence logits float32 [B, 2], or None without the NSP head)."""
        hidden, _ = self.encode(ids, token_types, attention_mask=attention_mask, train=train)  # [B, T, D]
        if masked_positions is None:
            picked = hidden
        else:
            if masked_positions.ndim != 2 or masked_positions.shape[0] != ids.shape[0]:
                raise InputShapeError(f"BertPretraining: masked_positions must be int [B, P] with B = "
                                      f"{ids.shape[0]}, got {tuple(masked_positions.shape)}")
            picked = jnp.take_along_axis(hidden, masked_positions[..., None].astype(jnp.int32), axis=1)  # [B, P, D]
        mlm_logits = self.mlm_logits(picked)
        nsp_logits = None
        if self.next_sentence:
            nsp_logits = self.nsp(self.cls_pool(hidden)).astype(jnp.float32)
        elif self.add_pooler and self.is_initializing():
            self.cls_pool(hidden)  # the pooler's parameters exist either way (checkpoints carry them)
        return mlm_logits, nsp_logits

    def mlm_logits(self, hidden):
        """hidden [..., D] -> vocabulary logits float32 [..., V]: transform, then the tied decoder and its bias."""
        h = self.mlm_norm(jax.nn.gelu(self.mlm_transform(hidden), approximate=False))
        return self.mlm_bias(self.word_embeddings.attend(h)).astype(jnp.float32)


INPUT_SPEC = ("int32 token ids [B, T]: [CLS] A [SEP] B [SEP] with some tokens replaced by [MASK], 0 = padding "
              "(right); optional token_types [B, T] (0 for [CLS] A [SEP], 1 for B [SEP]) and attention_mask")
# Measured with the card's recipe (`zoo-train bert_mini --data-dir DIR`: 4 epochs, 2,604 steps of 64 pairs, 28
# minutes on 2 CPU cores shared with another run): masked-token accuracy on the 2,270 held-out test pairs (16,268
# masked words); always guessing the most frequent word (',') gets 0.083 there. Next-sentence prediction starts
# late (at chance for the first ~1,300 steps) and reaches 0.559 on test (validation 0.496, 0.524, 0.553, 0.576
# after epochs 1-4, still rising); a 600-step run stays at chance.
MINI_ACCURACY = 0.276


def register_all() -> None:
    register_model(
        "bert_mini", BertPretraining, family="text", task="masked_lm", loss="softmax_cross_entropy",
        default_dataset="shakespeare_pairs", input_spec=INPUT_SPEC, example_input_shape=(16,), example=token_ids,
        input_dtype="int32", data_fields={"vocab_size": "vocab_size", "pad_id": "pad_id"},
        reference=Reference("masked_token_accuracy", MINI_ACCURACY,
                            "shakespeare_pairs test (the last 5% of the complete works' lines)",
                            "measured here: the card's recipe (4 epochs) on 2 CPU cores, "
                            "tests/test_bert_pretraining_slow.py (most-frequent-word baseline 0.083; NSP 0.559)"),
        description="A small BERT pre-trained from scratch (Devlin et al. 2019's masked LM + next-sentence "
                    "prediction): 2 post-LN layers, 128 wide, 2 heads (BERT-Tiny's sizes, Turc et al. 2019), a "
                    "word-level vocabulary of the train split; every size is a field. Hugging Face BertForPreTraining "
                    "weights load into zoo.text.bert_pretraining.BertPretraining (zoo.weights.hf_bert).",
        defaults={"vocab_size": 8192, "hidden_size": 128, "num_layers": 2, "num_heads": 2, "mlp_dim": 512,
                  "max_positions": 128},
        recipe={"optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.01, "schedule": "linear", "warmup_steps": 60,
                "clip_norm": 1.0, "epochs": 4, "batch_size": 64, "seq_len": 64, "vocab_size": 8192})


register_all()
