"""Seq2seq on the offline transduction sets (reverse, sort, dates): exact match on held-out test examples.

Each run trains through `train.train_and_evaluate` with the model card's recipe (optionally fewer epochs),
then decodes the whole test split greedily and with beam search and counts outputs equal to the target.

    python benchmarks/seq2seq_transduction.py                      # every run below
    python benchmarks/seq2seq_transduction.py --runs reverse/seq2seq_gru_attention --epochs 2

Results merge into benchmarks/results/seq2seq_transduction_cpu.json (one entry per run), so runs can be
done one at a time on a shared machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import machine, write_json  # noqa: E402
from train import config_for  # noqa: E402
from train.data import transduction  # noqa: E402
from train.loop import train_and_evaluate  # noqa: E402
from zoo.sequence.decode import beam_search, exact_matches, greedy_decode  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "seq2seq_transduction_cpu.json"
MODELS = ("seq2seq_gru_attention", "seq2seq_lstm_attention", "seq2seq_gru", "transformer_seq2seq")
DATASETS = ("reverse", "dates", "sort")
RUNS = tuple(f"{data}/{model}" for data in DATASETS for model in MODELS)
BEAM_WIDTH = 5
DECODE_BATCH = 500


def decoding_exact_match(model, variables, source, beam_width: int) -> dict:
    """Greedy and beam exact match over a whole split, with decoding time."""
    greedy_hits, beam_hits, beam_not_worse = [], [], []
    started = time.perf_counter()
    timings = {"greedy_s": 0.0, "beam_s": 0.0}
    for start in range(0, len(source), DECODE_BATCH):
        x, y = source.take(np.arange(start, min(start + DECODE_BATCH, len(source))))
        max_length = y.shape[1] + 1  # room for one token too many: a wrong length is a miss, not a cut
        t0 = time.perf_counter()
        greedy = jax.block_until_ready(greedy_decode(model, variables, x, max_length))
        t1 = time.perf_counter()
        beam = jax.block_until_ready(beam_search(model, variables, x, beam_width, max_length))
        t2 = time.perf_counter()
        timings["greedy_s"] += t1 - t0
        timings["beam_s"] += t2 - t1
        greedy_hits.append(np.asarray(exact_matches(greedy.tokens, y)))
        beam_hits.append(np.asarray(exact_matches(beam.tokens, y)))
        beam_not_worse.append(np.asarray(beam.log_probs >= greedy.log_probs - 1e-4))
    return {"greedy_exact_match": float(np.concatenate(greedy_hits).mean()),
            "beam_exact_match": float(np.concatenate(beam_hits).mean()), "beam_width": beam_width,
            "beam_log_prob_not_below_greedy": float(np.concatenate(beam_not_worse).mean()),
            "decode_seconds_including_compile": {k: round(v, 2) for k, v in timings.items()},
            "decode_total_s": round(time.perf_counter() - started, 2)}


def recipe_of(config: dict) -> dict:
    """Epochs, batch size and optimizer settings of a run's config (TrainConfig as a dict, by section)."""
    return {"epochs": config["run"]["epochs"], "batch_size": config["data"]["batch_size"], "optim": config["optim"]}


def model_fields(model) -> dict:
    """The architecture's own settings: its fields less those filled from the data and the dtypes."""
    skip = {"src_vocab_size", "tgt_vocab_size", "pad_id", "dtype", "param_dtype", "parent", "name"}
    return {f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.name not in skip}


def run(name: str, epochs: int | None) -> dict:
    dataset, model = name.split("/")
    load_at_start = os.getloadavg()[0]  # the machine is shared: timings mean little without it
    config = config_for(model, dataset=dataset, epochs=epochs, progress=False, plots=False)
    with tempfile.TemporaryDirectory() as workdir:
        started = time.perf_counter()
        result = train_and_evaluate(config, workdir)
        train_s = time.perf_counter() - started
    summary = result.summary
    data = transduction.load(dataset)
    decoding = decoding_exact_match(result.model, result.state.variables, data.split("test"), BEAM_WIDTH)
    return {
        "model": model, "dataset": dataset, "recipe": recipe_of(summary["config"]),
        "model_fields": model_fields(result.model),
        "param_count": int(sum(v.size for v in jax.tree.leaves(result.state.params))),
        "train_seconds_including_compile_and_eval": round(train_s, 1), "load_average_at_start": load_at_start,
        "steps": summary["steps"], "steps_per_sec": summary["steps_per_sec_this_session"],
        "test_token_accuracy": summary["test_accuracy"], "test_loss": summary["test_loss"],
        **decoding,
        "data": summary["data"],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", default=list(RUNS), help=f"dataset/model pairs; default: all {len(RUNS)}")
    parser.add_argument("--epochs", type=int, default=None, help="override the card recipe's epochs")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)

    report = json.loads(Path(args.out).read_text()) if os.path.exists(args.out) else {}
    report.setdefault("runs", {})
    for name in args.runs:
        print(f"== {name}", flush=True)
        report["runs"][name] = run(name, args.epochs)
        entry = report["runs"][name]
        print(json.dumps({k: entry[k] for k in ("greedy_exact_match", "beam_exact_match",
                                                 "train_seconds_including_compile_and_eval")}), flush=True)
        report.update(benchmark="seq2seq_transduction", machine=machine(),
                      note="exact match = the whole decoded output equals the target; test examples held out "
                           "(no test source in train; dates: no test date in train)")
        write_json(args.out, report)


if __name__ == "__main__":
    main()
