"""Training steps/s of the LSTM sentiment classifier in JAX (zoo) and the identical PyTorch model, as JSON.

    python benchmarks/lstm_throughput.py --out benchmarks/results/lstm_classifier_cpu.json

Model: Embedding(20000, 50) -> LSTM(hidden 128, batch-first) -> Linear(128, 2) on the state after
each sequence's last real token; Adam, softmax cross-entropy, batch 64 x 64 tokens with right
padding (lengths drawn in [T/2, T]). Both sides train on the same pre-generated batch (input
pipeline excluded) after warm-up steps, single-process, 2 threads (torch also at 1). The zoo side is the library's
own step (`SupervisedStep` under `jax.jit`) on `zoo.create("sentiment_lstm", mlp=())`.
PyTorch runs nn.LSTM on the padded batch and reads the output at length - 1 (padding after the
last real token cannot change it), its cheapest correct form; the zoo model masks padded steps.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report.py beside this script

VOCAB, EMBED, HIDDEN, CLASSES = 20000, 50, 128, 2


def make_batch(batch: int, length: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(length // 2, length + 1, batch)
    x = rng.integers(4, VOCAB, (batch, length)).astype(np.int32)
    x[np.arange(length)[None, :] >= lengths[:, None]] = 0  # right padding, id 0
    return x, rng.integers(0, CLASSES, batch).astype(np.int32)


def timed(run_steps, steps: int) -> tuple[float, float]:
    """(steps per wall second, process CPU seconds per step): the second is less sensitive to other
    processes sharing the cores, the first is what a user waits."""
    wall, cpu = time.perf_counter(), time.process_time()
    run_steps(steps)
    return steps / (time.perf_counter() - wall), (time.process_time() - cpu) / steps


def zoo_throughput(x, y, steps: int, warmup: int) -> tuple[float, float]:
    import jax
    import optax

    import zoo.sequence  # noqa: F401  (registers sentiment_lstm)
    from train.state import create_train_state
    from train.losses import softmax_cross_entropy
    from train.steps import SupervisedStep
    from zoo.registry import create

    model = create("sentiment_lstm", vocab_size=VOCAB, num_classes=CLASSES, embed_dim=EMBED, hidden_size=HIDDEN,
                   mlp=(), dropout=0.0, embed_dropout=0.0)
    tx = optax.adam(1e-3)
    state = create_train_state(model, tx, x[:1], seed=0)
    step = jax.jit(SupervisedStep(model, tx, softmax_cross_entropy).train, donate_argnums=0)
    batch = {"x": x, "y": y, "mask": np.ones(len(y), np.float32)}

    def run_steps(count):
        nonlocal state
        for _ in range(count):
            state, metrics = step(state, batch)
        jax.block_until_ready((state, metrics))

    run_steps(warmup)
    return timed(run_steps, steps)


def torch_throughput(x, y, steps: int, warmup: int) -> tuple[float, float]:
    import torch

    class LSTMClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, EMBED)
            self.rnn = torch.nn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.classifier = torch.nn.Linear(HIDDEN, CLASSES)

        def forward(self, tokens):
            lengths = (tokens != 0).sum(1)
            outputs, _ = self.rnn(self.embed(tokens))  # [B, T, H]
            last = outputs[torch.arange(len(tokens)), (lengths - 1).clamp(min=0)]  # [B, H]
            return self.classifier(last)

    torch.manual_seed(0)
    net = LSTMClassifier()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))

    def run_steps(count):
        for _ in range(count):
            opt.zero_grad(set_to_none=True)
            loss_fn(net(xt), yt).backward()
            opt.step()

    run_steps(warmup)
    return timed(run_steps, steps)


def _best(measure, x, y, args) -> tuple[float, float]:
    """Best of `args.repeats` runs: highest steps/s, lowest CPU time per step."""
    runs = [measure(x, y, args.steps, args.warmup) for _ in range(args.repeats)]
    return max(r[0] for r in runs), min(r[1] for r in runs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3, help="best of N timing runs per side")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/lstm_classifier_cpu.json")
    args = p.parse_args()

    import jax
    import torch

    from report import machine, write_json

    torch.set_num_threads(args.threads)
    x, y = make_batch(args.batch_size, args.length)
    load_before = os.getloadavg()[0]  # the cores may be shared: recorded so readers can judge the figures
    torch_sps, torch_cpu = _best(torch_throughput, x, y, args)
    # One thread as well: on cores shared with other processes, torch's spinning OpenMP workers can
    # make 2 threads slower than 1; both figures are recorded, the ratio uses the faster.
    torch.set_num_threads(1)
    torch1_sps, torch1_cpu = _best(torch_throughput, x, y, args)
    torch.set_num_threads(args.threads)
    zoo_sps, zoo_cpu = _best(zoo_throughput, x, y, args)
    best_torch_sps = max(torch_sps, torch1_sps)
    result = {"zoo_steps_per_sec": round(zoo_sps, 3), "torch_steps_per_sec": round(torch_sps, 3),
              "torch_1_thread_steps_per_sec": round(torch1_sps, 3),
              "ratio_zoo_over_best_torch": round(zoo_sps / best_torch_sps, 3),
              "zoo_cpu_ms_per_step": round(1000 * zoo_cpu, 2), "torch_cpu_ms_per_step": round(1000 * torch_cpu, 2),
              "torch_1_thread_cpu_ms_per_step": round(1000 * torch1_cpu, 2),
              "cpu_time_ratio_best_torch_over_zoo": round(min(torch_cpu, torch1_cpu) / zoo_cpu, 3),
              "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    print(json.dumps(result))
    report = {
        "benchmark": "lstm_classifier_throughput",
        "model": {"vocab_size": VOCAB, "embed_dim": EMBED, "hidden_size": HIDDEN, "num_classes": CLASSES,
                  "zoo": "zoo.create('sentiment_lstm', mlp=())", "torch": "nn.Embedding + nn.LSTM + nn.Linear"},
        "machine": machine(),
        "versions": {"jax": jax.__version__, "torch": torch.__version__},
        "threads": {"torch": torch.get_num_threads(), "jax_cpu_devices": len(jax.devices("cpu")),
                    "xla_flags": os.environ.get("XLA_FLAGS", "")},
        "settings": {"batch_size": args.batch_size, "length": args.length, "steps": args.steps,
                     "warmup": args.warmup, "repeats": args.repeats, "optimizer": "adam"},
        "results": [result],
    }
    write_json(args.out, report)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
