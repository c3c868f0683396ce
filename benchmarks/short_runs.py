"""Short CPU training runs of the deeper vision models: the loss must fall and accuracy climb above chance.

    python benchmarks/short_runs.py --out benchmarks/results/vision_short_runs_cpu.json

They cannot converge on a 2-core CPU; each trains on a Fashion-MNIST subset
through the same `train_and_evaluate` as every other model (card recipe
except for size, epochs and learning rate) and reports per-epoch training loss
and the accuracy on the first test images (chance: 0.10).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report.py beside this script

# Per-model settings: images smaller than a net's minimum are resized on device.
RUNS = {
    "resnet18": {"lr": 1e-3},
    "googlenet": {"lr": 1e-3},
    "mobilenet_v2": {"lr": 1e-3},
    "efficientnet_lite0": {"lr": 1e-3},
    "alexnet": {"image_size": 64, "lr": 1e-4},
    "vgg11_bn": {"lr": 1e-3},
}


def _write(args, results) -> None:
    import jax
    from report import machine, write_json

    write_json(args.out, {
        "benchmark": "vision_short_runs", "dataset": "fashion_mnist",
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data_dir", "models")},
        "machine": machine(), "versions": {"jax": jax.__version__}, "chance_accuracy": 0.1, "results": results})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(RUNS))
    p.add_argument("--train-examples", type=int, default=2000)
    p.add_argument("--test-examples", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="benchmarks/results/vision_short_runs_cpu.json")
    args = p.parse_args()

    from train import config_for, train_and_evaluate

    results = []
    for name in args.models:
        settings = {"lr": 1e-3, **RUNS.get(name, {})}
        config = config_for(name, dataset="fashion_mnist", data_dir=args.data_dir, limit_train=args.train_examples,
                            limit_test=args.test_examples, validation_fraction=0.0, epochs=args.epochs,
                            batch_size=args.batch_size, progress=False, plots=False, seed=0, **settings)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as workdir:
            summary = train_and_evaluate(config, workdir).summary
        row = {"model": name, **settings,
               "train_loss_by_epoch": [round(e["train_loss"], 4) for e in summary["history"]],
               "train_accuracy_by_epoch": [round(e["train_accuracy"], 4) for e in summary["history"]],
               "test_accuracy": round(summary["test_accuracy"], 4), "seconds": round(time.perf_counter() - started, 1)}
        print(json.dumps(row), flush=True)
        results.append(row)
        _write(args, results)  # after every model: the slow ones can be stopped without losing the rest
    print("wrote", args.out)


if __name__ == "__main__":
    main()
