"""GPT training steps/s: zoo's `gpt_nano` (zoo/text/gpt.py) against the same architecture in PyTorch, as JSON.

    python benchmarks/gpt_train_throughput.py                     # the real run (best of 5 x 20 steps a side)
    python benchmarks/gpt_train_throughput.py --steps 2 --repeats 1 --no-compile --out /tmp/gpt_tp.json  # smoke

A small GPT-2 at character level: 4 pre-LN layers, 256 wide, 4 heads, MLP 1024, context 128, learned positions,
tied input/output embedding, no dropout; the vocabulary is the `shakespeare` data set's character vocabulary
(87 ids: its characters plus the special tokens, as zoo-train builds it; --vocab-size changes it, 50257 is
GPT-2's BPE). Batch 16 windows of 128 tokens, AdamW (lr 1e-3, weight decay 0.1 on matrices only, as
train.optim decays them) and gradient clipping at global norm 1.0 on both sides: a full training step
(forward, backward, clipping, optimizer). The inputs are one pre-generated batch of random ids (input
pipeline excluded).

The zoo side is the library's own compiled step (`SupervisedStep` + `MeshParallel.compile_train`, with the
language-model task's token weights), as in train_throughput.py; the PyTorch side is written out below (one
fused q/k/v Linear, torch.nn.functional.scaled_dot_product_attention with is_causal, tanh GELU), with the same
parameter count (asserted), torch.set_num_threads(cpu count), eager and, unless --no-compile or it fails,
torch.compile'd. Each side is timed after warm-up, the sides in alternation so that both see the same
machine load, best of N (report.best_seconds); the load average before and after is recorded.

Writes benchmarks/results/gpt_train_throughput_cpu.json: steps/s and tokens/s of each side and the ratios.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # report.py beside this script

SHAKESPEARE_CHAR_VOCAB = 87  # len(vocab) of `shakespeare` at --tokenizer char (benchmarks/results/char_lm_*.json)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256, help="d_model (GPT's hidden_size)")
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128, help="context = tokens per window (max_positions too)")
    p.add_argument("--vocab-size", type=int, default=SHAKESPEARE_CHAR_VOCAB,
                   help="87: shakespeare's characters + specials (default); 50257: GPT-2's BPE")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--clip-norm", type=float, default=1.0, help="0: no clipping")
    p.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation)")
    p.add_argument("--repeats", type=int, default=5, help="alternating rounds; the best round of each side counts")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile side")
    p.add_argument("--torch-threads", type=int, default=os.cpu_count() or 1,
                   help="torch.set_num_threads (default: the CPU count; on a busy machine fewer threads than "
                        "cores avoids OpenMP stalls)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpt_train_throughput_cpu.json"))
    return p.parse_args(argv)


def gpt_fields(args) -> dict:
    """zoo.create('gpt_nano', **fields): the card's GPT (dropout 0) at this benchmark's size."""
    return {"vocab_size": args.vocab_size, "hidden_size": args.hidden, "num_layers": args.layers,
            "num_heads": args.heads, "max_positions": args.seq_len, "dropout_rate": 0.0,
            "attention_dropout_rate": 0.0}


def zoo_trainer(args, x: np.ndarray, y: np.ndarray):
    """A warmed-up (compiled) zoo training step as a no-argument callable that waits for its result, and the
    parameter count."""
    import jax

    import zoo
    from train.config import OptimConfig
    from train.losses import softmax_cross_entropy
    from train.optim import make_optimizer
    from train.parallel import MeshParallel
    from train.state import create_train_state
    from train.steps import SupervisedStep
    from train.steps.supervised import per_sequence_sums, token_weights

    model = zoo.create("gpt_nano", **gpt_fields(args))
    tx = make_optimizer(OptimConfig(name="adamw", lr=args.lr, weight_decay=args.weight_decay,
                                    clip_norm=args.clip_norm), 10_000)
    parallel = MeshParallel(jax.devices()[:1])
    state = create_train_state(model, tx, x[:1], seed=0)
    params = int(sum(v.size for v in jax.tree.leaves(state.network().params)))
    state = parallel.put_state(state)
    # What the language-model task compiles: per-token cross-entropy weighted by (target != padding).
    body = SupervisedStep(model, tx, softmax_cross_entropy, weights=token_weights(0), report=per_sequence_sums)
    step = parallel.compile_train(body.train)
    batch = parallel.put_batch({"x": x, "y": y, "mask": np.ones(len(y), np.float32)})
    holder = {"state": state}

    def one_step():
        holder["state"], metrics = step(holder["state"], batch)
        return jax.block_until_ready(metrics)

    for _ in range(args.warmup):
        one_step()
    return one_step, params


def torch_gpt(args):
    """GPT-2's architecture in PyTorch at the same size (pre-LN blocks, fused q/k/v, tied head)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self, d: int, heads: int):
            super().__init__()
            self.heads = heads
            self.attention_norm = nn.LayerNorm(d, eps=1e-5)
            self.qkv = nn.Linear(d, 3 * d)
            self.out = nn.Linear(d, d)
            self.mlp_norm = nn.LayerNorm(d, eps=1e-5)
            self.up = nn.Linear(d, 4 * d)
            self.down = nn.Linear(4 * d, d)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(self.attention_norm(x)).split(d, dim=2)
            q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, H, T, d/H]
            x = x + self.out(a.transpose(1, 2).reshape(b, t, d))
            return x + self.down(F.gelu(self.up(self.mlp_norm(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(args.vocab_size, args.hidden)
            self.wpe = nn.Embedding(args.seq_len, args.hidden)
            self.h = nn.ModuleList(Block(args.hidden, args.heads) for _ in range(args.layers))
            self.ln_f = nn.LayerNorm(args.hidden, eps=1e-5)
            for name, p in self.named_parameters():  # GPT-2's initialisation, as zoo's GPT does it
                if p.ndim == 2:
                    std = 0.02 / math.sqrt(2 * args.layers) if name.endswith(("out.weight", "down.weight")) else 0.02
                    nn.init.normal_(p, 0.0, std)
                elif name.endswith("bias"):
                    nn.init.zeros_(p)

        def forward(self, ids):
            x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device))
            for block in self.h:
                x = block(x)
            return self.ln_f(x) @ self.wte.weight.T  # tied head

    torch.manual_seed(0)
    return GPT().train()


def torch_trainer(args, x: np.ndarray, y: np.ndarray, compiled: bool = False):
    """The same for PyTorch (synchronous), eager or torch.compile'd, and the parameter count."""
    import torch
    from torch.nn import functional as F

    net = torch_gpt(args)
    params = sum(p.numel() for p in net.parameters())
    decay = [p for p in net.parameters() if p.ndim > 1]  # train.optim's mask: matrices and embeddings
    no_decay = [p for p in net.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    forward = torch.compile(net) if compiled else net
    xt, yt = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad(set_to_none=True)
        logits = forward(xt)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yt.reshape(-1))
        loss.backward()
        if args.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), args.clip_norm)
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    return step, params


def main(argv=None) -> dict:
    args = parse_args(argv)
    import jax
    import torch

    from report import best_seconds, load_average, machine, write_json

    torch.set_num_threads(args.torch_threads)
    rng = np.random.default_rng(0)
    ids = rng.integers(4, args.vocab_size, (args.batch, args.seq_len + 1), dtype=np.int32)  # no padding ids
    x, y = ids[:, :-1], ids[:, 1:]
    load_before = os.getloadavg()

    sides, compile_note = {}, None
    started = time.perf_counter()
    sides["zoo_jax"], zoo_params = zoo_trainer(args, x, y)
    setup_s = {"zoo_jax": time.perf_counter() - started}
    started = time.perf_counter()
    sides["torch_eager"], torch_params = torch_trainer(args, x, y)
    setup_s["torch_eager"] = time.perf_counter() - started
    assert zoo_params == torch_params, f"parameter counts differ: zoo {zoo_params}, torch {torch_params}"
    if not args.no_compile:
        started = time.perf_counter()
        try:
            sides["torch_compile"], _ = torch_trainer(args, x, y, compiled=True)
            setup_s["torch_compile"] = time.perf_counter() - started
        except Exception as err:  # no C++ compiler, an unsupported op, ...: the eager figure stands alone
            compile_note = f"torch.compile failed, skipped: {type(err).__name__}: {str(err)[:300]}"
            print(compile_note, flush=True)
    print(f"{zoo_params:,} parameters a side; set-up (compile + {args.warmup} warm-up steps): "
          + ", ".join(f"{k} {v:.1f}s" for k, v in setup_s.items()), flush=True)

    runs: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.repeats):  # alternating, so every side sees the same machine load
        for name, step in sides.items():
            runs[name].append(args.steps / best_seconds(step, args.steps, repeats=1))
        print("  ".join(f"{name} {values[-1]:.2f} steps/s" for name, values in runs.items()), flush=True)

    tokens = args.batch * args.seq_len
    results = {name: {"steps_per_sec": round(max(values), 3), "tokens_per_sec": round(max(values) * tokens, 1),
                      "runs_steps_per_sec": [round(v, 3) for v in values], "setup_s": round(setup_s[name], 1)}
               for name, values in runs.items()}
    ratios = {f"zoo_over_{name}": round(max(runs["zoo_jax"]) / max(runs[name]), 3) for name in runs
              if name != "zoo_jax"}
    load_after = os.getloadavg()
    report = {
        "benchmark": "gpt_train_throughput",
        "machine": machine(),
        "versions": {"jax": jax.__version__, "torch": torch.__version__},
        "torch_threads": torch.get_num_threads(),
        **load_average(load_before, load_after),
        "model": {"zoo": "gpt_nano with overrides", "fields": gpt_fields(args), "mlp_dim": 4 * args.hidden,
                  "tied_embeddings": True, "param_count": zoo_params, "param_count_torch": torch_params,
                  "vocabulary": ("shakespeare characters + specials (zoo-train's char vocabulary)"
                                 if args.vocab_size == SHAKESPEARE_CHAR_VOCAB else
                                 "GPT-2 BPE" if args.vocab_size == 50257 else "custom")},
        "settings": {"batch_size": args.batch, "seq_len": args.seq_len, "tokens_per_step": tokens,
                     "optimizer": "adamw", "lr": args.lr, "weight_decay": args.weight_decay,
                     "clip_norm": args.clip_norm, "steps": args.steps, "warmup": args.warmup,
                     "repeats": args.repeats, "timing": "alternating rounds, best round per side"},
        "results": results,
        "ratios": ratios,
        "torch_compile": compile_note or ("skipped (--no-compile)" if args.no_compile else "ok"),
    }
    write_json(args.out, report)
    print(json.dumps({"results": {k: {m: v[m] for m in ("steps_per_sec", "tokens_per_sec")}
                                  for k, v in results.items()}, "ratios": ratios}))
    print("wrote", args.out)
    return report


if __name__ == "__main__":
    main()
