"""Our skip-gram against gensim's Word2Vec(sg=1) on the same corpus and settings, plus our GloVe and the
pretrained GloVe 6B-50d for context.

    python benchmarks/word2vec_vs_gensim.py --out benchmarks/results/word2vec_vs_gensim.json

Corpus (all offline): gensim's Lee background news corpus (lee_background.cor), the complete works of
Shakespeare (/work/shared/data/text/shakespeare.txt) and the fine-food reviews (train + test CSVs, review
text), one sentence per line / review, tokenised once by zoo's WordTokenizer (lowercase, punctuation
dropped) and handed to both trainers as the same token lists. Scores: WordSim-353 Spearman (gensim's
wordsim353.tsv, pairs covered) and the Google analogy set (questions-words.txt), both through
zoo.text.analogies, which scores exactly as gensim does; wall time of each trainer on this machine.
gensim runs with workers=1 and XLA with one thread, so both train on one core. Our GloVe uses
x_max=10 by default here, the reference GloVe demo's setting for small corpora (x_max=100, the paper's
setting for billions of tokens, leaves most entries of a corpus this size nearly unweighted).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

# One XLA thread, like gensim's one worker: a fair per-core comparison, and polite on a shared machine.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

sys.path.insert(0, str(Path(__file__).resolve().parent))  # report.py beside this script
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHARED_TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"
SOURCES = ("lee", "shakespeare", "reviews")


def load_corpus(sources, text_dir: Path) -> tuple[list[list[str]], dict]:
    from train.embeddings import read_corpus
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
    p.add_argument("--batch-size", type=int, default=4096, help="our skip-gram's positive pairs per step")
    p.add_argument("--glove-epochs", type=int, default=15)
    p.add_argument("--glove-window", type=int, default=10)
    p.add_argument("--glove-x-max", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--restrict-vocab", type=int, default=30000, help="analogy vocabulary limit")
    p.add_argument("--skip", default="", help="comma-separated parts to leave out: gensim,ours,glove,pretrained")
    p.add_argument("--out", default="benchmarks/results/word2vec_vs_gensim.json")
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    from report import machine, write_json

    from train.embeddings import GloVeConfig, Word2VecConfig, train_glove, train_word2vec

    sentences, corpus = load_corpus(args.sources.split(","), args.text_dir)
    print(json.dumps({"corpus": corpus}))
    settings = {"dim": args.dim, "window": args.window, "negative": args.negative, "min_count": args.min_count,
                "epochs": args.epochs, "seed": args.seed, "sample": 1e-3, "lr": 0.025, "min_lr": 0.0001}
    results = {}

    def timed(name, build):
        started = time.perf_counter()
        vectors = build()
        seconds = time.perf_counter() - started
        results[name] = {"train_seconds": round(seconds, 1), **scores(vectors, args.restrict_vocab)}
        print(json.dumps({name: results[name]}))

    if "ours" not in skip:
        config = Word2VecConfig(dim=args.dim, window=args.window, negative=args.negative, min_count=args.min_count,
                                epochs=args.epochs, seed=args.seed, batch_size=args.batch_size)
        timed("zoo_skipgram", lambda: train_word2vec(sentences, config))
    if "gensim" not in skip:
        timed("gensim_word2vec_sg", lambda: gensim_word2vec(sentences, args))
    if "glove" not in skip:
        glove_config = GloVeConfig(dim=args.dim, window=args.glove_window, min_count=args.min_count,
                                   epochs=args.glove_epochs, x_max=args.glove_x_max, seed=args.seed)
        timed("zoo_glove", lambda: train_glove(sentences, glove_config))
        results["zoo_glove"]["settings"] = {"window": args.glove_window, "epochs": args.glove_epochs,
                                            "x_max": glove_config.x_max, "alpha": glove_config.alpha,
                                            "lr": glove_config.lr, "batch_size": glove_config.batch_size}
    if "pretrained" not in skip:
        from zoo.text.vectors import load_glove_6b_50d

        results["glove_6b_50d_pretrained"] = {"note": "Wikipedia 2014 + Gigaword 5 (6B tokens); for context",
                                              **scores(load_glove_6b_50d(), args.restrict_vocab)}

    import gensim

    report = {"benchmark": "word2vec_vs_gensim", "corpus": corpus, "settings": settings,
              "our_batch_size": args.batch_size, "gensim_version": gensim.__version__, "gensim_workers": 1,
              "results": results, "machine": machine()}
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
