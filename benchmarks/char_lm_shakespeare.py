"""Character language model on Shakespeare, on this CPU: validation cross-entropy against wall-clock time,
then samples at several temperatures and their diversity. Not run in CI.

The issue's bar: validation cross-entropy <= 1.6 nats/char within 20 minutes, trained through the real loop
(`train.train_and_evaluate`, data set `shakespeare` = /work/shared/data/text/shakespeare.txt, the complete
works, 5.06 M characters, split 90/5/5 by position).

    python benchmarks/char_lm_shakespeare.py                       # the card's recipe, ~20 min
    python benchmarks/char_lm_shakespeare.py --epochs 1 --limit-train 6400 --out /tmp/calib.json   # calibration

Writes benchmarks/results/char_lm_shakespeare_cpu.json: the recipe, val CE per epoch with the wall time it was
reached, steps/s, the machine and how busy it was (load average: other jobs on the CPU slow every figure
here), and per temperature: distinct-2 / distinct-3 and sample text.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TEMPERATURES = (0.5, 0.8, 1.0, 1.2, 1.5)
BAR_NATS = 1.6
BUDGET_S = 20 * 60


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="char_gru", choices=("char_rnn", "char_gru", "char_lstm"))
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--clip-norm", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=2, help="evaluation points: validation CE after each")
    p.add_argument("--limit-train", type=int, default=None,
                   help="first N training windows per epoch (0 = all); default: as many as the time budget allows "
                        "at the step speed measured just before training")
    p.add_argument("--budget-minutes", type=float, default=BUDGET_S / 60)
    p.add_argument("--data-dir", default="/work/shared/data/text")
    p.add_argument("--workdir", default="", help="default: a fresh temporary directory")
    p.add_argument("--samples", type=int, default=16, help="samples per temperature for the diversity figures")
    p.add_argument("--sample-length", type=int, default=300)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "char_lm_shakespeare_cpu.json"))
    return p.parse_args(argv)


class EpochClock:
    """Notes the wall time at which each epoch's line appears in metrics.jsonl (the loop has no callback)."""

    def __init__(self, path: Path, started: float):
        self.path, self.started, self.times = path, started, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        while not self._stop.wait(1.0):
            if self.path.is_file():
                lines = sum(1 for line in self.path.read_text().splitlines() if line.strip())
                while len(self.times) < lines:
                    self.times.append(time.perf_counter() - self.started)

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join()
        return self.times


def measure_step_seconds(config, samples: int = 6, vocab_size: int | None = None) -> float:
    """Seconds per training step of `config`'s model and batch on this machine right now (after compiling);
    `vocab_size`: the data set's (default: the card's), which decides the cost of a large softmax."""
    import jax
    import numpy as np

    import zoo
    from train.optim import make_optimizer
    from train.state import create_train_state
    from train.losses import softmax_cross_entropy
    from train.steps import SupervisedStep
    from train.steps.supervised import per_sequence_sums, token_weights

    fields = dict(config.model_overrides)
    if vocab_size:
        fields["vocab_size"] = vocab_size
    model = zoo.create(config.model, **fields)
    tx = make_optimizer(config.optim, 1000)
    pad_id = getattr(model, "pad_id", 0)  # the recurrent models' field; GPT has none (the data sets' pad is 0)
    body = SupervisedStep(model, tx, softmax_cross_entropy, weights=token_weights(pad_id), report=per_sequence_sums)
    step = jax.jit(body.train, donate_argnums=0)
    batch_size, seq_len = config.data.batch_size, config.text.seq_len or 128  # 128: the text sets' default
    x = np.random.default_rng(0).integers(4, model.vocab_size, (batch_size, seq_len), dtype=np.int32)
    batch = {"x": x, "y": x, "mask": np.ones(batch_size, np.float32)}
    state = create_train_state(model, tx, x[:1], 0)
    state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    started = time.perf_counter()
    for _ in range(samples):
        state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    return (time.perf_counter() - started) / samples


def windows_for_budget(step_s: float, args) -> int:
    """Training windows per epoch so that compiling, training and the evaluations fit ~90% of the budget."""
    tokens_per_step = args.batch * args.seq_len
    eval_s = 0.05 * 5.06e6 / tokens_per_step * step_s / 3  # forward only: about a third of a training step
    compile_s = 60.0
    train_s = 0.9 * args.budget_minutes * 60 - compile_s - (args.epochs + 1) * eval_s
    steps_per_epoch = max(1, int(train_s / step_s / args.epochs))
    return steps_per_epoch * args.batch


def diversity_by_temperature(model, variables, codec, args) -> dict:
    import jax
    import numpy as np

    from zoo.sequence.sampling import distinct_n, sample
    from zoo.text import BOS_ID, EOS_ID, PAD_ID, UNK_ID

    prompt = np.tile(codec.encode("\n"), (args.samples, 1))  # every sample starts a new line
    special = (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
    # Compile once before timing (the temperature is traced: one program serves them all).
    sample(model, variables, prompt, args.sample_length, jax.random.key(0), suppress_ids=special)
    out = {}
    for i, temperature in enumerate(TEMPERATURES):
        started = time.perf_counter()
        ids = sample(model, variables, prompt, args.sample_length, jax.random.key(i), temperature=temperature,
                     suppress_ids=special)
        seconds = time.perf_counter() - started
        texts = [codec.decode(row) for row in ids]
        out[str(temperature)] = {"distinct_2": distinct_n(texts, 2), "distinct_3": distinct_n(texts, 3),
                                 "chars_per_s": ids.size / seconds, "sample": texts[0], "sample_2": texts[1]}
        print(f"T={temperature}: distinct-2 {out[str(temperature)]['distinct_2']:.3f}, "
              f"distinct-3 {out[str(temperature)]['distinct_3']:.3f}\n{texts[0][:200]}\n", flush=True)
    greedy = sample(model, variables, prompt[:1], args.sample_length, jax.random.key(0), greedy=True,
                    suppress_ids=special)
    out["greedy"] = {"distinct_2": distinct_n([codec.decode(greedy[0])], 2),
                     "distinct_3": distinct_n([codec.decode(greedy[0])], 3), "sample": codec.decode(greedy[0])}
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    from report import machine, write_json

    from train import config_for, train_and_evaluate
    from train.cli.generate import load_language_model

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="char_lm_shakespeare_"))
    overrides = {"hidden_size": args.hidden, "embed_dim": args.embed, "num_layers": args.layers}
    config = config_for(args.model, dataset="shakespeare", data_dir=args.data_dir, epochs=args.epochs,
                        batch_size=args.batch, seq_len=args.seq_len, lr=args.lr, clip_norm=args.clip_norm,
                        optimizer="adam", schedule="cosine", model_overrides=overrides,
                        progress=False, plots=False, log_every=100)
    load_before = os.getloadavg()
    calibration_started = time.perf_counter()
    step_s = measure_step_seconds(config)
    calibration_s = time.perf_counter() - calibration_started
    limit_train = windows_for_budget(step_s, args) if args.limit_train is None else args.limit_train
    config = dataclasses.replace(config, limit_train=limit_train)
    print(f"measured {step_s:.3f} s/step (load {load_before[0]:.1f}); {limit_train or 'all'} windows per epoch, "
          f"{args.epochs} epochs", flush=True)
    started = time.perf_counter()
    clock = EpochClock(workdir / "metrics.jsonl", started)
    result = train_and_evaluate(config, workdir)
    wall = time.perf_counter() - started  # everything: data loading, compiling, training, evaluations
    epoch_times = clock.stop()
    load_after = os.getloadavg()

    history = result.summary["history"]
    curve = [{"epoch": h["epoch"], "step": h["step"], "wall_s": epoch_times[i] if i < len(epoch_times) else None,
              "train_ce": h["train_loss"], "val_ce": h["val_loss"], "val_accuracy": h["val_accuracy"]}
             for i, h in enumerate(history)]
    reached = next((c for c in curve if c["val_ce"] <= BAR_NATS), None)
    model, variables, codec = load_language_model(args.model, workdir)
    samples = diversity_by_temperature(model, variables, codec, args)
    cpus = os.cpu_count() or 1
    report = {
        "benchmark": "char_lm_shakespeare",
        "machine": machine(),
        "cpu_load_average_1_5_15min": {"before": load_before, "after": load_after},
        "machine_busy": max(load_before[0], load_after[0], load_after[2]) > 0.5 * cpus,
        "model": args.model,
        "recipe": {"model_overrides": overrides, "seq_len": args.seq_len, "batch_size": args.batch,
                   "optimizer": "adam", "lr": args.lr, "schedule": "cosine", "clip_norm": args.clip_norm,
                   "epochs": args.epochs, "limit_train": limit_train,
                   "windows_per_epoch": result.summary["data"]["train_size"]},  # the limit, or all there are
        "measured_step_s_before_training": step_s,
        "calibration_s": calibration_s,
        "data": result.summary["data"],
        "param_count": int(sum(v.size for v in __import__("jax").tree.leaves(variables["params"]))),
        "steps": result.summary["steps"],
        "wall_s": wall,
        "steps_per_s_overall": result.summary["steps"] / wall,
        "steps_per_s_loop": result.summary["steps_per_sec_this_session"],
        "val_ce_per_epoch": curve,
        "test_ce": result.summary["test_loss"],
        "test_perplexity": result.summary.get("test_perplexity"),
        "bar": {"val_ce_nats_per_char": BAR_NATS, "budget_s": BUDGET_S,
                "best_val_ce": min(c["val_ce"] for c in curve),
                "first_reached_at_s_incl_calibration": calibration_s + reached["wall_s"] if reached else None,
                "met": bool(reached) and calibration_s + wall <= BUDGET_S},
        "sampling": {"prompt": "\\n", "samples_per_temperature": args.samples, "length": args.sample_length,
                     "by_temperature": samples},
        "workdir": str(workdir),
    }
    write_json(args.out, report)
    print(f"wall {wall:.0f}s, steps {report['steps']}, val CE per epoch "
          f"{[round(c['val_ce'], 3) for c in curve]} at {[round(c['wall_s'] or 0) for c in curve]} s, "
          f"test CE {report['test_ce']:.3f}, bar met: {report['bar']['met']}; busy: {report['machine_busy']} "
          f"(load {load_before[0]:.1f} -> {load_after[0]:.1f} on {cpus} CPUs) -> {args.out}")
    return report


if __name__ == "__main__":
    main()
