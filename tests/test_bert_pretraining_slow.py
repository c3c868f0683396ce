"""The long run: bert_mini (the card's recipe: 2 layers, 128 wide) pre-trained from scratch on Shakespeare's complete
works within a CPU budget of about 15 minutes; the masked-LM loss falls on held-out text and the masked-token
accuracy beats always guessing the most frequent word. The figures it prints go in the card
(zoo.text.bert_pretraining) and the note. Measured (600 steps, 8.5 minutes): MLM loss 9.02 -> 5.62, masked-token
accuracy 0.151 against 0.081 for always ','; NSP loss 0.695 -> 0.693, accuracy 0.51: next-sentence prediction is
still at chance after this budget (it is learnt by the fast test's toy text, tests/test_masked_lm.py). (4 layers x 256 wide at batch 32 reached only 240 steps in 12 minutes on 2 shared cores: MLM loss 8.98 -> 5.96
on held-out text, but still the unigram stage, masked-token accuracy = the most-frequent-word baseline 0.081.)

    .venv/bin/pytest tests/test_bert_pretraining_slow.py -m slow -s
"""
import json
import time

import jax
import numpy as np
import pytest

import zoo
from conftest import SHARED_DATA, quick
from train import train_and_evaluate
from train.data import eval_batches, load_for_run
from train.parallel import make_parallel
from train.tasks import task_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # the suite's 600 s limit is for one fast test

STEPS, BATCH = 600, 64  # about 10 minutes of the card's recipe on 2 busy CPU cores
SETTINGS = dict(dataset="shakespeare_pairs", epochs=1, batch_size=BATCH, limit_train=STEPS * BATCH, limit_test=1024,
                eval_batch_size=256, log_every=50)


def held_out(task, state, split="test"):
    """The task's metrics of `state` on `split`, as the loop computes them."""
    step = jax.jit(task.eval_step)
    kept = []
    for batch in eval_batches(task.dataset.split(split), 256):
        result = jax.device_get(step(state, batch))
        real = batch["mask"] > 0
        kept.append({**{k: v[real] for k, v in result.items()}, "targets": batch["y"][real]})
    return task.metrics({k: np.concatenate([r[k] for r in kept]) for k in kept[0]})


def test_bert_mini_learns_shakespeare(tmp_path):
    text = SHARED_DATA / "text"
    if not (text / "shakespeare.txt").is_file():
        pytest.skip(f"shakespeare.txt not present in {text}")
    config = quick("bert_mini", data_dir=str(text), **SETTINGS)
    task = task_for("masked_lm")(config, zoo.model_card("bert_mini"), load_for_run(config), make_parallel("jit"))
    start = held_out(task, task.init_state())

    began = time.perf_counter()
    run = train_and_evaluate(config, tmp_path)
    minutes = (time.perf_counter() - began) / 60
    s = run.summary
    figures = {"steps": s["steps"], "minutes": round(minutes, 1), "vocabulary": len(task.dataset.codec.vocab),
               "most_frequent_word": s["most_frequent_word"],
               "start": {k: start[k] for k in ("mlm_loss", "accuracy", "nsp_loss", "nsp_accuracy")},
               "end": {"mlm_loss": s["test_mlm_loss"], "accuracy": s["test_accuracy"], "nsp_loss": s["test_nsp_loss"],
                       "nsp_accuracy": s["test_nsp_accuracy"]},
               "baseline_accuracy": s["test_baseline_accuracy"], "masked_tokens": s["test_masked_tokens"],
               "train": s["history"][-1]}
    print("\nbert_mini on shakespeare_pairs:", json.dumps(figures, indent=1))

    assert s["test_mlm_loss"] < start["mlm_loss"] - 2.0  # from ln 8192 = 9.0
    assert s["test_nsp_loss"] <= start["nsp_loss"]  # at chance in this budget; it must at least not get worse
    assert s["test_accuracy"] > s["test_baseline_accuracy"] + 0.02
