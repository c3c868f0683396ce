"""MiniLM-L6 forward throughput, zoo (JAX) against Hugging Face `transformers` (PyTorch), same weights and batch.

    python benchmarks/minilm_throughput.py --out benchmarks/results/minilm_throughput_cpu.json

Both encode a batch of 32 sequences of 128 real tokens (ids drawn at random from the vocabulary, full attention
mask) to the last hidden states, in float32, inference only: zoo's `Bert.encode` under `jax.jit` (compiled
before timing), `transformers.AutoModel` under `torch.inference_mode()` with the same threads JAX uses. Each
side is timed `--repeats` times over `--steps` batches and the best repeat is kept (the least disturbed by
the rest of the machine); sentences/s = batch * steps / seconds. Also checks that the outputs agree.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report.py beside this script


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default="benchmarks/results/minilm_throughput_cpu.json")
    args = p.parse_args()

    import jax
    import jax.numpy as jnp
    import torch
    import transformers

    from report import best_seconds, machine, write_json
    from zoo.weights import load_pretrained
    from zoo.weights.minilm import minilm_files

    torch.set_num_threads(os.cpu_count() or 1)
    ids = np.random.default_rng(0).integers(1000, 30000, (args.batch, args.tokens)).astype(np.int32)
    mask = np.ones_like(ids)
    model, variables = load_pretrained("minilm_l6", "minilm", num_classes=0, strict=True)
    encode = jax.jit(lambda v, x, m: model.apply(v, x, attention_mask=m, method=model.encode)[0])
    x, m = jnp.asarray(ids), jnp.asarray(mask)
    zoo_seconds = best_seconds(lambda: encode(variables, x, m).block_until_ready(), args.steps, args.repeats)

    reference = transformers.AutoModel.from_pretrained(str(minilm_files())).eval()
    tx, tm = torch.tensor(ids).long(), torch.tensor(mask).long()

    def torch_forward():
        with torch.inference_mode():
            return reference(input_ids=tx, attention_mask=tm).last_hidden_state

    torch_seconds = best_seconds(torch_forward, args.steps, args.repeats)
    difference = float(np.abs(np.asarray(encode(variables, x, m)) - torch_forward().numpy()).max())
    sentences = args.batch * args.steps
    zoo_rate, torch_rate = sentences / zoo_seconds, sentences / torch_seconds
    report = {
        "benchmark": "minilm_throughput", "model": "minilm_l6 (all-MiniLM-L6-v2)", "batch": args.batch,
        "tokens": args.tokens, "steps": args.steps, "repeats": args.repeats, "dtype": "float32",
        "zoo_sentences_per_s": round(zoo_rate, 2), "torch_sentences_per_s": round(torch_rate, 2),
        "ratio_zoo_over_torch": round(zoo_rate / torch_rate, 3), "max_abs_difference": difference,
        "machine": machine(), "load_average": os.getloadavg(),
        "versions": {"jax": jax.__version__, "torch": torch.__version__, "transformers": transformers.__version__},
    }
    print({k: report[k] for k in ("zoo_sentences_per_s", "torch_sentences_per_s", "ratio_zoo_over_torch",
                                  "max_abs_difference", "load_average")})
    write_json(args.out, report)


if __name__ == "__main__":
    main()
