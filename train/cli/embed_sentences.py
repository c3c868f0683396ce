"""`zoo-embed sentences` and `zoo-embed similar`: sentence embeddings of a text file from a pretrained BERT.

    zoo-embed sentences reviews.txt --model minilm_l6 --out reviews.npy      # one unit vector per line
    zoo-embed similar "stale coffee" --embeddings reviews.npy --texts reviews.txt -k 5
"""
from __future__ import annotations

import json
from pathlib import Path

from zoo.errors import ZooError

DEFAULT_MODEL = "minilm_l6"


def add_parsers(commands) -> None:
    sentences = commands.add_parser("sentences", help="embed each line of a text file with a pretrained BERT "
                                                      "(mean-pooled, normalised) and write an .npy [N, D]")
    sentences.add_argument("file", help="UTF-8 text, one sentence or passage per non-empty line")
    sentences.add_argument("--out", required=True, help="where to write the embeddings (.npy, float32 [N, D])")
    _model_flags(sentences)
    similar = commands.add_parser("similar", help="the lines closest to a query, by cosine of sentence embeddings")
    similar.add_argument("query", help="the text to look for")
    similar.add_argument("--texts", required=True, help="the text file the embeddings were computed from")
    similar.add_argument("--embeddings", help="its .npy from `zoo-embed sentences` (default: embed --texts now)")
    similar.add_argument("-k", type=int, default=5, help="how many lines to list")
    similar.add_argument("--json", action="store_true")
    _model_flags(similar)


def _model_flags(c) -> None:
    c.add_argument("--model", default=DEFAULT_MODEL, help=f"a BERT-family registry model (default {DEFAULT_MODEL})")
    c.add_argument("--weights", help="a named source of the model's card or a .safetensors file with its "
                                     "tokenizer.json beside it (default: the card's)")
    c.add_argument("--batch-size", type=int, default=32)
    c.add_argument("--max-length", type=int, default=256, help="tokens per text, [CLS] and [SEP] included")


def read_lines(path: str) -> list[str]:
    from train.data.text_files import read_utf8

    lines = [line.strip() for line in read_utf8(Path(path).expanduser()).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ZooError(f"{path} has no non-empty lines to embed; give one text per line")
    return lines


def _encoder(args):
    from zoo.text.sentence_encoder import SentenceEncoder

    return SentenceEncoder.pretrained(args.model, args.weights, max_length=args.max_length,
                                      batch_size=args.batch_size)


def run(args) -> str:
    import numpy as np

    texts = read_lines(args.file if args.command == "sentences" else args.texts)
    if args.command == "sentences":
        vectors = _encoder(args).encode(texts)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, vectors)
        return f"{vectors.shape[0]} texts x {vectors.shape[1]} dims -> {out}"
    encoder = _encoder(args)
    if args.embeddings:
        vectors = np.load(args.embeddings, allow_pickle=False)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ZooError(f"{args.embeddings} holds {vectors.shape} embeddings but {args.texts} has {len(texts)} "
                           "non-empty lines; pass the file the embeddings were made from, or re-run zoo-embed "
                           "sentences on it")
    else:
        vectors = encoder.encode(texts)
    found = encoder.most_similar(args.query, vectors, args.k)
    if args.json:
        return json.dumps([{"line": i + 1, "cosine": round(s, 4), "text": texts[i]} for i, s in found])
    return "\n".join(f"{s:.4f}  {texts[i]}" for i, s in found)
