"""Sequence models: seq2seq on the string transductions, and the character language model on Shakespeare.

Seq2seq (`python benchmarks/seq2seq_transduction.py`): each model trains with its card's recipe on 20,000
generated pairs and is scored on the 1,000 (reverse, sort) or 2,000 (dates) held-out strings by exact match,
greedy and with beam search (width 5).

char_gru (`python benchmarks/char_lm_shakespeare.py --data-dir ../shared/data`): the benchmark times a step
first and sizes the epochs to a 20-minute budget (hence `limit_train`); validation cross-entropy in nats per
character, the bar being 1.6.
"""
from train.configs import Recipe

SEQ2SEQ_SOURCE = "benchmarks/results/seq2seq_transduction_cpu.json"
# (model, data) -> greedy and beam exact match as the benchmark recorded them
SEQ2SEQ = {
    ("seq2seq_gru_attention", "reverse"): (1.0, 1.0), ("seq2seq_gru_attention", "dates"): (1.0, 1.0),
    ("seq2seq_gru_attention", "sort"): (0.9975, 0.9975),
    ("seq2seq_lstm_attention", "reverse"): (1.0, 1.0), ("seq2seq_lstm_attention", "dates"): (0.9825, 0.9825),
    ("seq2seq_lstm_attention", "sort"): (1.0, 1.0),
    ("seq2seq_gru", "reverse"): (0.889, 0.91), ("seq2seq_gru", "dates"): (0.9675, 0.9745),
    ("seq2seq_gru", "sort"): (0.812, 0.8335),
}


def _seq2seq(model: str, data: str, greedy: float, beam: float) -> Recipe:
    measured = {"greedy_exact_match": greedy, "beam_exact_match": beam}
    return Recipe(name=f"{model}_{data}", model=model, settings={"dataset": data},
                  command=f"zoo-train {model} --data {data}", measured=measured, source=SEQ2SEQ_SOURCE,
                  at=("runs", f"{data}/{model}"))


CHAR_GRU = Recipe(
    name="char_gru_shakespeare", model="char_gru",
    settings={"dataset": "shakespeare", "data_dir": "../shared/data", "epochs": 2, "batch_size": 32, "seq_len": 128,
              "optimizer": "adam", "lr": 0.005, "schedule": "cosine", "clip_norm": 1.0, "limit_train": 88192,
              "model_overrides": {"hidden_size": 256, "embed_dim": 64, "num_layers": 1}},
    command="python benchmarks/char_lm_shakespeare.py --data-dir ../shared/data",
    measured={"best_val_ce": 1.5618}, source="benchmarks/results/char_lm_shakespeare_cpu.json", at=("bar",))

RECIPES = [_seq2seq(model, data, *figures) for (model, data), figures in SEQ2SEQ.items()] + [CHAR_GRU]
