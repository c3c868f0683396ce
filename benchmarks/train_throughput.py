"""Training steps/s of zoo models against the same architecture in PyTorch, side by side, as JSON.

    python benchmarks/train_throughput.py --models mlp mlp_small --out benchmarks/results/mlp_cpu.json
    python benchmarks/train_throughput.py --models lenet5 --out benchmarks/results/lenet5_cpu.json
    python benchmarks/train_throughput.py --models resnet18 --steps 20 --warmup 3 --out benchmarks/results/resnet18_cpu.json

Both sides train on the same pre-generated batch (input pipeline excluded),
with Adam and softmax cross-entropy, after warm-up steps (compilation, in
JAX's case). The zoo side is the library's own compiled step
(`SupervisedStep` + `MeshParallel.compile_train`), not a hand-tuned copy.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # torch_twins beside this script


def zoo_steps_per_sec(name: str, x: np.ndarray, y: np.ndarray, steps: int, warmup: int) -> float:
    import jax
    import optax

    import zoo
    from train.parallel import MeshParallel
    from train.state import create_train_state
    from train.losses import softmax_cross_entropy
    from train.steps import SupervisedStep

    model = zoo.create(name, num_classes=10)
    tx = optax.adam(1e-3)
    parallel = MeshParallel(jax.devices()[:1])
    state = parallel.put_state(create_train_state(model, tx, x[:1], seed=0))
    step = parallel.compile_train(SupervisedStep(model, tx, softmax_cross_entropy).train)
    batch = parallel.put_batch({"x": x, "y": y, "mask": np.ones(len(y), np.float32)})
    for _ in range(warmup):
        state, metrics = step(state, batch)
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = step(state, batch)
    jax.block_until_ready((state, metrics))
    return steps / (time.perf_counter() - start)


def torch_steps_per_sec(name: str, x: np.ndarray, y: np.ndarray, steps: int, warmup: int) -> float:
    import torch

    import zoo
    from torch_twins import TWINS

    spec = zoo.create(name, num_classes=10)  # same sizes, activation and dropout as the zoo module
    net = TWINS[name](spec, x.shape[1:])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    nchw = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # torch convs want channels first
    xt, yt = torch.from_numpy(np.ascontiguousarray(nchw)), torch.from_numpy(y.astype(np.int64))
    net.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["mlp", "mlp_small"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=500, help="timed steps per run (use fewer for resnet18)")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3, help="best of N timing runs per side")
    p.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = p.parse_args()

    import jax
    import torch

    from report import machine, write_json
    from torch_twins import INPUT_SHAPES

    rng = np.random.default_rng(0)
    results = []
    for name in args.models:
        x = rng.random((args.batch_size, *INPUT_SHAPES[name]), dtype=np.float32)
        y = rng.integers(0, 10, args.batch_size).astype(np.int32)
        zoo_sps = max(zoo_steps_per_sec(name, x, y, args.steps, args.warmup) for _ in range(args.repeats))
        torch_sps = max(torch_steps_per_sec(name, x, y, args.steps, args.warmup) for _ in range(args.repeats))
        row = {"model": name, "batch_size": args.batch_size, "input_shape": list(x.shape[1:]),
               "zoo_steps_per_sec": round(zoo_sps, 3), "torch_steps_per_sec": round(torch_sps, 3),
               "ratio_zoo_over_torch": round(zoo_sps / torch_sps, 3)}
        print(json.dumps(row))
        results.append(row)
    report = {
        "benchmark": "train_throughput",
        "machine": machine(),
        "versions": {"jax": jax.__version__, "torch": torch.__version__},
        "torch_threads": torch.get_num_threads(),
        "settings": {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "optimizer": "adam"},
        "results": results,
    }
    write_json(args.out, report)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
