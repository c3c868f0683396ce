"""Language models on Shakespeare for the same wall-clock budget each: validation nats per character against
time, one run after another on this CPU, as JSON and a plot. Not run in CI.

    python benchmarks/lm_equal_time.py                                  # char_gru, gpt_nano: 15 min each
    python benchmarks/lm_equal_time.py --models char_gru gpt_nano gpt_nano:tokenizer=smollm2   # + a BPE run
    python benchmarks/lm_equal_time.py --budget-minutes 1 --epochs 2 --out /tmp/lm.json        # smoke test

Every run trains through the real loop (`train.train_and_evaluate`) on the data set `shakespeare`
(/work/shared/data/text/shakespeare.txt: the complete works, 5.06 M characters, split 90/5/5 by position), as
benchmarks/char_lm_shakespeare.py does: a few training steps are timed first (`measure_step_seconds`, at the
data set's vocabulary size) and the epochs sized to the budget (`windows_for_budget`: --epochs evaluation points,
each after `steps_per_epoch` steps); the wall time of each validation figure is noted as its line reaches
metrics.jsonl (`EpochClock`), counted from the start of `train_and_evaluate` (data loading and compiling
included). The probe of the data set and the step timing come before, and are recorded apart.

Epochs are --steps-per-epoch steps long (train.config: the data order reads on across epochs), so a run that
stops before a full pass has read distinct windows only (`passes` in the JSON: how many passes it made).

A run is MODEL[:KEY=VALUE,...]. KEYs are training settings by their flat names (train.config: lr, batch_size,
seq_len, warmup_steps, tokenizer, ...), `label` (the run's name in the JSON and plot), or model fields
(hidden_size=..., or model.NAME=... when a name is also a setting's); values are Python literals or strings.
`gpt_nano:tokenizer=smollm2` thus passes tokenizer=smollm2 into the config's text settings. The validation
metric is `val_nats_per_char` from metrics.jsonl where the task reports it, else `val_loss`, the
cross-entropy per token: per character for character tokens, the same figure.

Defaults: char_gru with char_lm_shakespeare.py's recipe (hidden 256, embed 64, 1 layer, seq 128, batch 32,
Adam 5e-3, cosine, clipping at 1), and gpt_nano as its card builds it (4 layers, 128 wide, 4 heads, no dropout)
with nanoGPT's optimiser settings scaled to batch 32 x 128 tokens (AdamW 2e-3, weight decay 0.1, 100 warm-up
steps, cosine, clipping at 1).

Writes benchmarks/results/lm_equal_time_cpu.json (per run: the recipe, parameter count, points [wall_s, val
nats/char], final test figures, step speed, the machine's load) and lm_equal_time_cpu.png beside it.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

BUDGET_MINUTES = 15.0
# char_gru's bar: best validation CE of benchmarks/results/char_lm_shakespeare_cpu.json (2 epochs, 1.5618).
CHAR_GRU_BAR = 1.562
DEFAULT_RUNS = ("char_gru", "gpt_nano")


def char_gru_recipe() -> dict:
    """char_lm_shakespeare.py's recipe, from its own argument defaults."""
    from char_lm_shakespeare import parse_args as char_lm_args

    a = char_lm_args([])
    return {"model_overrides": {"hidden_size": a.hidden, "embed_dim": a.embed, "num_layers": a.layers},
            "batch_size": a.batch, "seq_len": a.seq_len, "optimizer": "adam", "lr": a.lr, "schedule": "cosine",
            "clip_norm": a.clip_norm}


def gpt_nano_recipe() -> dict:
    """The card's architecture; its recipe (zoo/text/gpt_cards.py, nanoGPT's baby GPT: AdamW 1e-3 at batch 12 x
    64 tokens) at batch 32 x 128 and twice the rate."""
    from zoo.text.gpt_cards import NANO_RECIPE

    recipe = {k: v for k, v in NANO_RECIPE.items() if k != "epochs"}
    return {**recipe, "batch_size": 32, "seq_len": 128, "lr": 2e-3}


RECIPES = {"char_gru": char_gru_recipe, "gpt_nano": gpt_nano_recipe}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(DEFAULT_RUNS), metavar="RUN",
                   help="runs, in order: MODEL[:KEY=VALUE,...] (see the module's help)")
    p.add_argument("--budget-minutes", type=float, default=BUDGET_MINUTES, help="wall-clock budget of each run")
    p.add_argument("--epochs", type=int, default=8, help="evaluation points per run (validation after each)")
    p.add_argument("--data-dir", default="/work/shared/data/text")
    p.add_argument("--workdir", default="", help="one sub-folder per run (default: a fresh temporary directory)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "lm_equal_time_cpu.json"))
    p.add_argument("--plot", default="", help="PNG path (default: --out with .png)")
    p.add_argument("--append", action="store_true",
                   help="keep the runs already in --out (a run of the same label is replaced) and plot them all")
    return p.parse_args(argv)


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_run(spec: str) -> dict:
    """'MODEL[:KEY=VALUE,...]' -> {'label', 'model', 'settings' (flat training settings), 'model_overrides'},
    on top of the model's default recipe here (RECIPES) or, for other models, the card's."""
    from train.config import FLAT_NAMES

    model, _, rest = spec.partition(":")
    recipe = RECIPES[model]() if model in RECIPES else {}
    overrides = dict(recipe.pop("model_overrides", {}))
    settings, label = dict(recipe), spec
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"run {spec!r}: {item!r} is not KEY=VALUE")
        key, value = key.strip(), _value(value.strip())
        if key == "label":
            label = str(value)
        elif key.startswith("model."):
            overrides[key[len("model."):]] = value
        elif key in FLAT_NAMES:
            settings[key] = value
        else:
            overrides[key] = value
    return {"label": label, "model": model, "settings": settings, "model_overrides": overrides}


def validation_metric(record: dict) -> tuple[str, float]:
    """The validation figure of one metrics.jsonl line: nats per character where the task reports it, else the
    cross-entropy per token (per character for character tokens)."""
    key = "val_nats_per_char" if "val_nats_per_char" in record else "val_loss"
    return key, record[key]


def run_one(run: dict, args, workdir: Path) -> dict:
    import jax

    from char_lm_shakespeare import EpochClock, measure_step_seconds, windows_for_budget
    from report import load_average
    from train import config_for, train_and_evaluate
    from train.data.registry import load_for_run

    settings = {"dataset": "shakespeare", "data_dir": args.data_dir, "epochs": args.epochs, "progress": False,
                "plots": False, "log_every": 100, **run["settings"], "model_overrides": run["model_overrides"]}
    config = config_for(run["model"], **settings)
    load_before = os.getloadavg()
    started = time.perf_counter()
    probe = load_for_run(config)  # the vocabulary (the softmax's cost) and the number of training windows
    vocab_size, train_windows = probe.num_classes, len(probe.splits["train"])
    del probe
    probe_s = time.perf_counter() - started
    step_s = measure_step_seconds(config, vocab_size=vocab_size)
    calibration_s = time.perf_counter() - started
    # The loop loads the data again: the budget left for it is what the probe and the timing did not spend.
    sizing = types.SimpleNamespace(batch=config.data.batch_size, seq_len=config.text.seq_len or 128,
                                   epochs=config.run.epochs, budget_minutes=args.budget_minutes - calibration_s / 60)
    # Epochs of a fixed number of steps that read on through the shuffled data (never the same windows twice
    # until every window has been read).
    steps_per_epoch = max(1, windows_for_budget(step_s, sizing) // config.data.batch_size)
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, steps_per_epoch=steps_per_epoch))
    distinct = min(steps_per_epoch * config.run.epochs * config.data.batch_size, train_windows)
    print(f"[{run['label']}] vocabulary {vocab_size}, {step_s:.3f} s/step (load {load_before[0]:.1f}); "
          f"{config.run.epochs} epochs of {steps_per_epoch} steps, {train_windows} training windows", flush=True)

    started = time.perf_counter()
    clock = EpochClock(workdir / "metrics.jsonl", started)
    result = train_and_evaluate(config, workdir)
    wall = time.perf_counter() - started
    times = clock.stop()
    load_after = os.getloadavg()

    lines = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    points, metric = [], None
    for i, record in enumerate(lines):
        metric, value = validation_metric(record)
        points.append([round(times[i], 1) if i < len(times) else None, value])
    summary = result.summary
    test_key = "test_nats_per_char" if "test_nats_per_char" in summary else "test_loss"
    per_char = metric == "val_nats_per_char" or config.text.tokenizer in ("", "char")
    if not per_char:
        print(f"[{run['label']}] warning: the task reports no nats_per_char; {metric} is per token, not per "
              "character", flush=True)
    return {
        "label": run["label"],
        "model": run["model"],
        "recipe": {**{k: v for k, v in settings.items() if k not in ("data_dir", "progress", "plots")},
                   "epochs": config.run.epochs, "steps_per_epoch": steps_per_epoch},
        "tokenizer": config.text.tokenizer or "char",
        "vocab_size": vocab_size,
        "param_count": int(sum(v.size for v in jax.tree.leaves(result.state.params))),
        "metric": metric,
        "metric_is_nats_per_char": per_char,
        "points": points,  # [wall_s since train_and_evaluate started, validation figure] per epoch
        "history": summary["history"],
        "best_val": min(p[1] for p in points),
        "final_val": points[-1][1],
        "test": {"metric": test_key, "value": summary.get(test_key), "loss": summary["test_loss"],
                 "perplexity": summary.get("test_perplexity"), "accuracy": summary["test_accuracy"]},
        "steps": summary["steps"],
        "tokens_per_step": config.data.batch_size * (config.text.seq_len or 128),
        "distinct_windows": distinct,
        "train_windows": train_windows,
        "passes": round(summary["steps"] * config.data.batch_size / train_windows, 2),
        "measured_step_s_before_training": step_s,
        "data_probe_s": probe_s,
        "calibration_s_incl_probe": calibration_s,
        "wall_s": wall,
        "wall_s_incl_calibration": wall + calibration_s,
        "steps_per_s_loop": summary["steps_per_sec_this_session"],
        "steps_per_s_overall": summary["steps"] / wall,
        **load_average(load_before, load_after),
        "data": summary["data"],
        "workdir": str(workdir),
    }


def plot(runs: list[dict], path: str, budget_minutes: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in runs:
        xs = [p[0] / 60 for p in run["points"] if p[0] is not None]
        ys = [p[1] for p in run["points"] if p[0] is not None]
        unit = "" if run["metric_is_nats_per_char"] else " (nats/token!)"
        ax.plot(xs, ys, marker="o", label=f"{run['label']} ({run['param_count'] / 1e6:.2f}M params){unit}")
    ax.axhline(CHAR_GRU_BAR, color="grey", linestyle="--", linewidth=1)
    ax.annotate(f"char_gru bar {CHAR_GRU_BAR}", (0, CHAR_GRU_BAR), xytext=(4, 4), textcoords="offset points",
                color="grey", fontsize=9)
    ax.axvline(budget_minutes, color="lightgrey", linewidth=1)
    ax.set_xlim(left=0)
    ax.set_xlabel("wall-clock minutes (train_and_evaluate: data, compiling, training, evaluations)")
    ax.set_ylabel("validation nats / character")
    ax.set_title(f"Shakespeare, {budget_minutes:g} min per model on this CPU")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> dict:
    args = parse_args(argv)
    runs = [parse_run(spec) for spec in args.models]  # every spec checked before the first run starts
    from report import machine, write_json

    base = Path(args.workdir or tempfile.mkdtemp(prefix="lm_equal_time_"))
    results = []
    for i, run in enumerate(runs):
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in run["label"])
        results.append(run_one(run, args, base / f"{i}_{name}"))
        r = results[-1]
        print(f"[{r['label']}] {r['steps']} steps in {r['wall_s']:.0f} s; {r['metric']} "
              f"{[round(p[1], 3) for p in r['points']]} at {[p[0] for p in r['points']]} s; "
              f"{r['test']['metric']} {r['test']['value']}; busy: {r['machine_busy']}", flush=True)
    if args.append and Path(args.out).is_file():
        earlier = json.loads(Path(args.out).read_text())["runs"]
        labels = {r["label"] for r in results}
        results = [r for r in earlier if r["label"] not in labels] + results
    report = {
        "benchmark": "lm_equal_time",
        "machine": machine(),
        "dataset": "shakespeare",
        "budget_minutes_per_run": args.budget_minutes,
        "char_gru_bar_nats_per_char": CHAR_GRU_BAR,
        "runs": results,
        "workdir": str(base),
    }
    write_json(args.out, report)
    png = args.plot or str(Path(args.out).with_suffix(".png"))
    plot(results, png, args.budget_minutes)
    print(f"wrote {args.out} and {png}")
    return report


if __name__ == "__main__":
    main()
