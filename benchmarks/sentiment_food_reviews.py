"""Test accuracy of every sentiment model on the fine-food reviews, trained by the real loop.

    python benchmarks/sentiment_food_reviews.py --data-dir /work/shared/data/text \
        --out benchmarks/results/sentiment_food_reviews_cpu.json

Each model trains with its card's recipe (GloVe 6B-50d rows in the `embed` table, fine-tuned unless the
recipe freezes them) on the 4,000 training reviews and is scored on the 1,000 test reviews (majority
class: 0.658). `--embeddings frozen|trained|random` overrides the recipe to compare embedding choices.
The JSON is rewritten after every model, so a long run can be stopped without losing the finished ones;
`--models A B` re-runs just those and keeps the other rows already in `--out`.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report.py beside this script

MODELS = ["sentiment_bag", "sentiment_attention", "sentiment_concat", "sentiment_cnn", "sentiment_gru",
          "sentiment_lstm", "sentiment_rnn"]
EMBEDDINGS = {  # --embeddings choice -> loop settings; "recipe" keeps the card's
    "recipe": {},
    "frozen": {"embeddings": "glove", "freeze_embeddings": True},
    "trained": {"embeddings": "glove", "freeze_embeddings": False},
    "random": {"embeddings": "", "freeze_embeddings": False},
}


def _write(args, results) -> None:
    import jax
    from report import machine, write_json

    write_json(args.out, {
        "benchmark": "sentiment_food_reviews", "dataset": "fine_foods", "split": "test (1,000 reviews)",
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data_dir", "models")},
        "machine": machine(), "versions": {"jax": jax.__version__}, "majority_class_accuracy": 0.658,
        "linear_baselines": linear_baselines(args.data_dir), "results": results})


def linear_baselines(data_dir: str) -> list[dict]:
    """What a linear model on sparse n-gram features reaches on the same split: the scale for the bar."""
    import csv

    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def read(split):
        with open(Path(data_dir) / f"fine_foods_{split}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        return [r["review"].replace("<br />", " ") for r in rows], np.array([r["score"] == "great" for r in rows])

    (train_x, train_y), (test_x, test_y) = read("train"), read("test")
    rows = []
    tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    fitted = LogisticRegression(C=4.0, max_iter=3000).fit(tfidf.fit_transform(train_x), train_y)
    rows.append({"model": "tfidf_1-2gram_logistic_regression (C=4)",
                 "test_accuracy": round(float((fitted.predict(tfidf.transform(test_x)) == test_y).mean()), 4)})
    # NB-weighted logistic regression (Wang & Manning 2012): binary n-grams scaled by their log-count ratio.
    counts = CountVectorizer(ngram_range=(1, 2), binary=True)
    train_counts, test_counts = counts.fit_transform(train_x), counts.transform(test_x)
    positive = 1 + np.asarray(train_counts[train_y].sum(0))[0]
    negative = 1 + np.asarray(train_counts[~train_y].sum(0))[0]
    ratio = np.log((positive / positive.sum()) / (negative / negative.sum()))
    fitted = LogisticRegression(C=0.1, max_iter=3000).fit(train_counts.multiply(ratio).tocsr(), train_y)
    accuracy = (fitted.predict(test_counts.multiply(ratio).tocsr()) == test_y).mean()
    rows.append({"model": "nb_weighted_1-2gram_logistic_regression (C=0.1)", "test_accuracy": round(float(accuracy), 4)})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--embeddings", choices=list(EMBEDDINGS), default="recipe")
    p.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default="/work/shared/data/text")
    p.add_argument("--out", default="benchmarks/results/sentiment_food_reviews_cpu.json")
    args = p.parse_args()

    import zoo.sequence  # noqa: F401  (registers the sentiment models)
    from train import config_for, train_and_evaluate
    from zoo.registry import model_card

    # Re-running some models keeps the other models' rows of an earlier run in the same file.
    earlier = json.loads(Path(args.out).read_text())["results"] if Path(args.out).is_file() else []
    results = [row for row in earlier if row["model"] not in args.models]
    for name in args.models:
        config = config_for(name, dataset="fine_foods", data_dir=args.data_dir, epochs=args.epochs, seed=args.seed,
                            progress=False, plots=False, **EMBEDDINGS[args.embeddings])
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir:
            summary = train_and_evaluate(config, workdir).summary
        card = model_card(name)
        row = {
            "model": name, "test_accuracy": round(summary["test_accuracy"], 4), "epochs": summary["epochs"],
            "seconds": round(time.perf_counter() - started, 1),
            "embeddings": ("frozen " if config.freeze_embeddings else "trained ") + (config.embeddings or "random init"),
            "embedding_coverage": summary.get("embedding_coverage"),
            "recipe": {**card.recipe, **{k: getattr(config, k) for k in ("epochs", "embeddings", "freeze_embeddings")}},
            "model_fields": {k: v for k, v in card.defaults.items() if k != "vocab_size"},
            "train_loss_by_epoch": [round(e["train_loss"], 4) for e in summary["history"]],
            "train_accuracy_by_epoch": [round(e["train_accuracy"], 4) for e in summary["history"]],
        }
        print(json.dumps({k: row[k] for k in ("model", "test_accuracy", "epochs", "seconds", "embeddings")}), flush=True)
        results.append(row)
        _write(args, results)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
