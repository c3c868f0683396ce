"""LoRA fine-tuning of SmolLM2-135M-Instruct on Shakespeare through the training loop, on this CPU: held-out
perplexity before and after, a sample before and after, what was trained and how long it took.

    python benchmarks/lora_smollm2.py                 # the issue's run (<= 20 minutes here)
    python benchmarks/lora_smollm2.py --steps 4 --test-windows 4 --out /tmp/lora.json   # a smoke run

The run is `zoo-train smollm2_135m --data shakespeare --tokenizer smollm2 --pretrained smollm2 --lora R ...`
(train.train_and_evaluate with the same settings): windows of SmolLM2's BPE tokens of the first 90% of
shakespeare.txt, one pass over the first steps x batch windows (no window seen twice). Held-out text: the first
--test-windows windows of the test split (the last 5%), scored by the loop's evaluation after training and, for
"before", by the same evaluation step on the pretrained weights (LoRA's B = 0 at step 0: the base model).
Writes benchmarks/results/lora_smollm2_cpu.json.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PROMPT = "ROMEO:\n"
TARGETS = "attention/query,attention/key,attention/value,attention/out,mlp/up,mlp/gate,mlp/down"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--targets", default=TARGETS)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--test-windows", type=int, default=96)
    p.add_argument("--sample-tokens", type=int, default=48)
    p.add_argument("--data-dir", default="/work/shared/data/text")
    p.add_argument("--workdir", default="")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "lora_smollm2_cpu.json"))
    return p.parse_args(argv)


def run_config(args):
    from train import config_for

    return config_for(
        "smollm2_135m", dataset="shakespeare", data_dir=args.data_dir, tokenizer="smollm2", seq_len=args.seq_len,
        pretrained="smollm2", lora_rank=args.rank, lora_alpha=args.alpha, lora_targets=args.targets,
        batch_size=args.batch, epochs=1, limit_train=args.steps * args.batch, limit_validation=args.batch * 2,
        limit_test=args.test_windows, optimizer="adamw", lr=args.lr, weight_decay=0.0, schedule="cosine",
        warmup_steps=max(1, args.steps // 10), clip_norm=1.0, log_every=10, progress=False)


def held_out_figures(task, state, dataset) -> dict:
    """The loop's own evaluation step and metrics on the test windows, for a state the loop did not train."""
    import jax
    import numpy as np

    from train.data.batching import eval_batches

    step = jax.jit(task.eval_step)
    kept = []
    for batch in eval_batches(dataset.split("test"), 8, 1):
        result = jax.device_get(step(state, batch))
        real = batch["mask"] > 0
        kept.append({**{k: np.asarray(v)[real] for k, v in result.items()}, "targets": batch["y"][real]})
    return task.metrics({k: np.concatenate([r[k] for r in kept]) for k in kept[0]})


def sample(model, params, codec, args) -> str:
    import jax

    from zoo.text.generation import Sampling, generate

    sampling = Sampling(temperature=0.8, top_p=0.95, suppress_ids=tuple(sorted(codec.tokenizer.special_ids)))
    out = generate(model, {"params": params}, [codec.encode(PROMPT).tolist()], max_new_tokens=args.sample_tokens,
                   key=jax.random.key(0), sampling=sampling)
    return PROMPT + codec.decode(out.rows()[0])


def main(argv=None) -> None:
    args = parse_args(argv)
    import jax

    import zoo
    from report import load_average, machine, write_json
    from train import train_and_evaluate
    from train.data.registry import load_for_run
    from train.parallel import make_parallel
    from train.steps.lora import split_adapters
    from train.tasks.registry import task_for
    from zoo.layers.lora import adapter_count

    config = run_config(args)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="lora_smollm2_"))
    load_before = os.getloadavg()
    started = time.perf_counter()
    result = train_and_evaluate(config, workdir)
    wall = time.perf_counter() - started
    load_after = os.getloadavg()
    summary = result.summary

    # Before: the same task's evaluation of the pretrained weights (adapters at B = 0).
    task = task_for("language_model")(config, zoo.model_card("smollm2_135m"), load_for_run(config),
                                      make_parallel("jit"))
    initial = task.init_state()
    before = held_out_figures(task, initial, task.dataset)
    base_params = task.step.model_params(initial.network().params)
    after_params = result.state.params  # merged: base + adapters
    count = adapter_count(split_adapters(initial.network().params)[1])
    base_count = sum(int(x.size) for x in jax.tree_util.tree_leaves(base_params))
    report = {
        "benchmark": "lora_smollm2", "machine": machine(), **load_average(load_before, load_after),
        "command": ("zoo-train smollm2_135m --data shakespeare --tokenizer smollm2 --pretrained smollm2 "
                    f"--lora {args.rank} --lora-alpha {args.alpha:g} --lora-targets {args.targets} "
                    f"--batch-size {args.batch} --seq-len {args.seq_len} --epochs 1 --limit-train "
                    f"{args.steps * args.batch} --optimizer adamw --lr {args.lr:g} --schedule cosine"),
        "steps": summary["steps"], "tokens_seen": summary["steps"] * args.batch * args.seq_len,
        "wall_s_train_and_evaluate": wall, "steps_per_sec": summary["steps_per_sec_this_session"],
        "trainable_params": count, "base_params": base_count, "trainable_fraction": count / (count + base_count),
        "optimizer_state_floats": sum(int(x.size) for x in jax.tree_util.tree_leaves(result.state.opt_state)),
        "held_out": {"windows": len(task.dataset.split("test")), "tokens": before["tokens"],
                     "before": {"perplexity": before["perplexity"], "nats_per_char": before["nats_per_char"],
                                "loss": before["loss"]},
                     "after": {"perplexity": summary["test_perplexity"], "nats_per_char": summary["test_nats_per_char"],
                               "loss": summary["test_loss"]}},
        "perplexity_drop": 1 - summary["test_perplexity"] / before["perplexity"],
        "history": summary["history"],
    }
    model = result.model
    report["samples"] = {"prompt": PROMPT, "temperature": 0.8, "top_p": 0.95,
                         "before": sample(model, base_params, task.dataset.codec, args),
                         "after": sample(model, after_params, task.dataset.codec, args)}
    print(f"perplexity {before['perplexity']:.2f} -> {summary['test_perplexity']:.2f} "
          f"({report['perplexity_drop']:.1%} lower), nats/char {before['nats_per_char']:.4f} -> "
          f"{summary['test_nats_per_char']:.4f}; {summary['steps']} steps in {wall / 60:.1f} min")
    print("before:", report["samples"]["before"], "\nafter:", report["samples"]["after"], sep="\n")
    assert math.isfinite(report["perplexity_drop"])
    write_json(args.out, report)


if __name__ == "__main__":
    main()
