"""Our skip-gram against gensim's Word2Vec(sg=1) on the same corpus and settings, plus our GloVe and the
pretrained GloVe 6B-50d for context.

    python benchmarks/word2vec_vs_gensim.py --out benchmarks/results/word2vec_vs_gensim.json

Corpus (all offline): gensim's Lee background news corpus (lee_background.cor), the complete works of
Shakespeare (/work/shared/data/text/shakespeare.txt) and the fine-food reviews (train + test CSVs, review
text), one sentence per line / review, tokenised once by zoo's WordTokenizer (lowercase, punctuation
dropped) and handed to both trainers as the same token lists. Scores: WordSim-353 Spearman (gensim's
wordsim353.tsv, pairs covered) and the Google analogy set (questions-words.txt), both through
zoo.text.analogies, which scores exactly as gensim does; wall time of each trainer on this machine.
Our models train exactly as `zoo-embed` / `zoo-train` train them: through train.loop with the tasks
word2vec and glove and each card's recipe (batch size, rate, schedule), on the tokens written to a corpus
file (one sentence per line) that gensim reads back too. gensim runs with workers=1 and XLA with one thread, so both train on one core. Our GloVe uses
x_max=10 by default here, the reference GloVe demo's setting for small corpora (x_max=100, the paper's
setting for billions of tokens, leaves most entries of a corpus this size nearly unweighted).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# One XLA thread, like gensim's one worker: a fair per-core comparison, and polite on a shared machine.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report.py beside this script
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The settings each of our models reads (GloVe has its own per-entry AdaGrad: no optimizer, schedule).
WORD2VEC_FIELDS = ("epochs", "batch_size", "optimizer", "lr", "schedule", "window", "negatives", "subsample",
                   "min_freq", "seed")
RECIPE_FIELDS = {"skipgram": WORD2VEC_FIELDS, "cbow": WORD2VEC_FIELDS,
                 "glove": ("epochs", "batch_size", "lr", "window", "x_max", "alpha", "min_freq", "seed")}
SHARED_TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"
SOURCES = ("lee", "shakespeare", "reviews")


def load_corpus(sources, text_dir: Path) -> tuple[list[list[str]], dict]:
    from train.data.corpus import read_corpus
    from zoo.text.analogies import gensim_test_file
    from zoo.text.tokenize import WordTokenizer

    sentences, described = [], {}
    for source in sources:
        if source == "lee":
            part = read_corpus(gensim_test_file("lee_background.cor"))
        elif source == "shakespeare":
            part = read_corpus(text_dir / "shakespeare.txt")
        elif source == "reviews":
            tokenizer = WordTokenizer()
            part = []
            for split in ("train", "test"):
                with open(text_dir / f"fine_foods_{split}.csv", encoding="utf8", newline="") as rows:
                    for row in csv.DictReader(rows):
                        tokens = [t for t in tokenizer(row["review"]) if any(c.isalnum() for c in t)]
                        if tokens:
                            part.append(tokens)
        else:
            raise ValueError(f"unknown corpus source {source!r}; choose from {', '.join(SOURCES)}")
        sentences += part
        described[source] = {"sentences": len(part), "tokens": sum(map(len, part))}
    described["total_tokens"] = sum(map(len, sentences))
    return sentences, described


def scores(vectors, restrict_vocab: int) -> dict:
    from zoo.text.analogies import evaluate_analogies, evaluate_word_pairs

    pairs = evaluate_word_pairs(vectors)
    analogies = evaluate_analogies(vectors, restrict_vocab=restrict_vocab)
    return {"vocab_size": len(vectors),
            "wordsim353": {"spearman": round(pairs.spearman, 4), "pairs_covered": pairs.pairs,
                           "pairs_total": pairs.pairs + pairs.out_of_vocabulary},
            "analogies": {"accuracy": round(analogies.accuracy, 4), "correct": analogies.total.correct,
                          "evaluated": analogies.total.correct + analogies.total.incorrect,
                          "questions": analogies.questions, "restrict_vocab": restrict_vocab}}


def gensim_word2vec(sentences, args):
    from gensim.models import Word2Vec

    from zoo.text.vectors import WordVectors

    model = Word2Vec(sentences, sg=1, vector_size=args.dim, window=args.window, negative=args.negative,
                     min_count=args.min_count, epochs=args.epochs, seed=args.seed, workers=1, sample=1e-3,
                     alpha=0.025, min_alpha=0.0001, hs=0)
    return WordVectors(model.wv.index_to_key, model.wv.vectors)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", default=",".join(SOURCES), help=f"comma-separated subset of {SOURCES}")
    p.add_argument("--text-dir", type=Path, default=SHARED_TEXT)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--negative", type=int, default=5)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=None,
                   help="our skip-gram / CBOW's positive pairs per step (default: the card's recipe)")
    p.add_argument("--glove-epochs", type=int, default=15)
    p.add_argument("--glove-window", type=int, default=10)
    p.add_argument("--glove-x-max", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--restrict-vocab", type=int, default=30000, help="analogy vocabulary limit")
    p.add_argument("--skip", default="",
                   help="comma-separated parts to leave out: gensim,ours,cbow,glove,pretrained")
    p.add_argument("--out", default="benchmarks/results/word2vec_vs_gensim.json")
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    from report import machine, write_json

    sentences, corpus = load_corpus(args.sources.split(","), args.text_dir)
    print(json.dumps({"corpus": corpus}))
    workspace = Path(tempfile.mkdtemp(prefix="word2vec_vs_gensim_"))
    corpus_file = workspace / "corpus.txt"
    corpus_file.write_text("".join(" ".join(s) + "\n" for s in sentences), encoding="utf8")
    from train.data.corpus import read_corpus

    sentences = read_corpus(corpus_file)  # what our trainers read: both sides get the very same tokens
    settings = {"dim": args.dim, "window": args.window, "negative": args.negative, "min_count": args.min_count,
                "epochs": args.epochs, "seed": args.seed, "sample": 1e-3, "lr": 0.025, "min_lr": 0.0001}
    results = {}

    def timed(name, build):
        started = time.perf_counter()
        vectors = build()
        seconds = time.perf_counter() - started
        results[name] = {"train_seconds": round(seconds, 1), **scores(vectors, args.restrict_vocab)}
        print(json.dumps({name: results[name]}))

    recipes = {}

    def ours(model, **settings):
        from train import config_for, train_and_evaluate
        from train.cli.embed import word_vectors_of

        given = {k: v for k, v in settings.items() if v is not None}
        config = config_for(model, dataset=f"corpus:{corpus_file}", model_overrides={"embed_dim": args.dim},
                            min_freq=args.min_count, seed=args.seed, progress=False, plots=False, **given)
        workdir = workspace / model
        vectors = word_vectors_of(train_and_evaluate(config, workdir), workdir)
        recipes[model] = {k: v for k, v in config.flat().items() if k in RECIPE_FIELDS[model]}
        return vectors

    word2vec = dict(window=args.window, negatives=args.negative, epochs=args.epochs, batch_size=args.batch_size)
    if "ours" not in skip:
        timed("zoo_skipgram", lambda: ours("skipgram", **word2vec))
        results["zoo_skipgram"]["recipe"] = recipes["skipgram"]
    if "cbow" not in skip:
        timed("zoo_cbow", lambda: ours("cbow", **word2vec))
        results["zoo_cbow"]["recipe"] = recipes["cbow"]
    if "gensim" not in skip:
        timed("gensim_word2vec_sg", lambda: gensim_word2vec(sentences, args))
    if "glove" not in skip:
        timed("zoo_glove", lambda: ours("glove", window=args.glove_window, epochs=args.glove_epochs,
                                        x_max=args.glove_x_max))
        results["zoo_glove"]["recipe"] = recipes["glove"]
    if "pretrained" not in skip:
        from zoo.text.vectors import load_glove_6b_50d

        results["glove_6b_50d_pretrained"] = {"note": "Wikipedia 2014 + Gigaword 5 (6B tokens); for context",
                                              **scores(load_glove_6b_50d(), args.restrict_vocab)}

    import gensim

    report = {"benchmark": "word2vec_vs_gensim", "corpus": corpus, "settings": settings,
              "gensim_version": gensim.__version__, "gensim_workers": 1,
              "results": results, "machine": machine()}
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
