"""ViT-Ti training steps/s: zoo against torchvision's VisionTransformer of the same configuration, as JSON.

    python benchmarks/vit_throughput.py --out benchmarks/results/vit_ti_cpu.json

DeiT-Ti's width (192 wide, 12 layers, 3 heads, MLP 768) on 32 px images cut into 4x4 patches (64 patches + the
class token), batch 128: the ImageNet configuration (224 px, 16x16 patches, 197 tokens) costs seconds a step
on a 2-core CPU. Both sides train on one pre-generated batch (input pipeline excluded) with Adam and softmax
cross-entropy after warm-up steps (compilation, on JAX's side), timed in alternation, best of N; the zoo side is the library's own compiled
step (`SupervisedStep` + `MeshParallel.compile_train`), as in train_throughput.py.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report.py beside this script

CONFIG = {"patch_size": 4, "hidden_dim": 192, "num_layers": 12, "num_heads": 3, "mlp_dim": 768}


def _time(step, steps: int, sync=lambda out: None) -> float:
    """steps/s of `steps` calls of step()."""
    start = time.perf_counter()
    for _ in range(steps):
        out = step()
    sync(out)
    return steps / (time.perf_counter() - start)


def zoo_trainer(config: dict, x: np.ndarray, y: np.ndarray, warmup: int):
    """A warmed-up (compiled) zoo training step as a no-argument callable, and how to wait for its result."""
    import jax
    import optax

    import zoo
    from train.losses import softmax_cross_entropy
    from train.parallel import MeshParallel
    from train.state import create_train_state
    from train.steps import SupervisedStep

    model = zoo.create("vit_ti_16", num_classes=10, image_size=x.shape[1], **config)
    tx = optax.adam(1e-3)
    parallel = MeshParallel(jax.devices()[:1])
    state = parallel.put_state(create_train_state(model, tx, x[:1], seed=0))
    step = parallel.compile_train(SupervisedStep(model, tx, softmax_cross_entropy).train)
    batch = parallel.put_batch({"x": x, "y": y, "mask": np.ones(len(y), np.float32)})
    holder = {"state": state}

    def one_step():
        holder["state"], metrics = step(holder["state"], batch)
        return metrics

    for _ in range(warmup):
        one_step()
    jax.block_until_ready(holder["state"])
    return one_step, jax.block_until_ready


def torch_trainer(config: dict, x: np.ndarray, y: np.ndarray, warmup: int):
    """The same for torchvision's VisionTransformer (synchronous: nothing to wait for)."""
    import torch
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    net = VisionTransformer(image_size=x.shape[1], num_classes=10, **config).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # torch convs want channels first
    yt = torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    return step, lambda out: None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=5, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="best of N alternating timing runs per side")
    p.add_argument("--out", default="benchmarks/results/vit_ti_cpu.json")
    args = p.parse_args()

    import os

    import jax
    import torch

    from report import machine, write_json

    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size, args.image_size, args.image_size, 3), dtype=np.float32)
    y = rng.integers(0, 10, args.batch_size).astype(np.int32)
    load_before = os.getloadavg()[0]
    zoo_step, zoo_sync = zoo_trainer(CONFIG, x, y, args.warmup)
    torch_step, torch_sync = torch_trainer(CONFIG, x, y, args.warmup)
    zoo_runs, torch_runs = [], []
    for _ in range(args.repeats):  # alternating, so both sides see the same machine load
        zoo_runs.append(_time(zoo_step, args.steps, zoo_sync))
        torch_runs.append(_time(torch_step, args.steps, torch_sync))
        print(f"zoo {zoo_runs[-1]:.3f} steps/s, torch {torch_runs[-1]:.3f} steps/s", flush=True)
    zoo_sps, torch_sps = max(zoo_runs), max(torch_runs)
    row = {"model": "vit_ti (DeiT-Ti width, 4x4 patches)", "config": CONFIG, "batch_size": args.batch_size,
           "input_shape": list(x.shape[1:]), "tokens": (args.image_size // CONFIG["patch_size"]) ** 2 + 1,
           "zoo_steps_per_sec": round(zoo_sps, 3), "torch_steps_per_sec": round(torch_sps, 3),
           "ratio_zoo_over_torch": round(zoo_sps / torch_sps, 3),
           "zoo_runs": [round(v, 3) for v in zoo_runs], "torch_runs": [round(v, 3) for v in torch_runs]}
    print(json.dumps(row))
    write_json(args.out, {
        "benchmark": "vit_train_throughput",
        "machine": machine(),
        "versions": {"jax": jax.__version__, "torch": torch.__version__},
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "settings": {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "optimizer": "adam"},
        "results": [row],
    })
    print("wrote", args.out)


if __name__ == "__main__":
    main()
