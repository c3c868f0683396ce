"""`zoo-train` / `python -m train`: train a zoo model from the shell."""
from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

from zoo.errors import ZooError


def _parse_override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set takes FIELD=VALUE (e.g. hidden=256,128 or dropout=0.1), got {text!r}")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    if isinstance(parsed, list):
        parsed = tuple(parsed)
    return key, parsed


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zoo-train", description="Train a zoo model and report its test metrics.")
    p.add_argument("model", nargs="?", help="registered model name (see --list)")
    p.add_argument("--list", action="store_true", help="list models (with --family, only that family) and data sets")
    p.add_argument("--family", help="with --list: only this family")
    p.add_argument("--card", action="store_true", help="print the model's card as JSON and exit")
    g = p.add_argument_group("data")
    g.add_argument("--data", dest="dataset", help="data set name (default: the card's), or tfds:NAME")
    g.add_argument("--data-dir", help="directory holding the data set's files (default: $ZOO_DATA_DIR)")
    g.add_argument("--validation-fraction", type=float)
    g.add_argument("--limit-train", type=int, help="train on the first N examples only")
    g.add_argument("--limit-test", type=int, help="evaluate on the first N test examples only")
    g = p.add_argument_group("training (defaults: the model card's recipe)")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--optimizer", help="sgd, momentum, nesterov, adam, adamw, rmsprop")
    g.add_argument("--lr", type=float)
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--schedule", help="constant, step, cosine, linear")
    g.add_argument("--warmup-steps", type=int)
    g.add_argument("--decay-every", type=int, help="'step' schedule: steps between decays")
    g.add_argument("--decay-factor", type=float)
    g.add_argument("--clip-norm", type=float, help="clip gradients to this global norm")
    g.add_argument("--loss", help="override the card's loss (softmax_cross_entropy, sigmoid_cross_entropy, hinge, "
                                  "perceptron, mse)")
    g.add_argument("--l2", type=float, help="L2 penalty on weights, added to the loss")
    g.add_argument("--patience", type=int, help="early stopping: epochs without validation-loss improvement")
    g.add_argument("--seed", type=int)
    g.add_argument("--set", dest="overrides", action="append", type=_parse_override, default=[],
                   metavar="FIELD=VALUE", help="model field override, e.g. --set hidden=256,128")
    g = p.add_argument_group("images (on-device; augmentation applies to training batches only)")
    g.add_argument("--image-size", type=int, help="resize images to SIZE x SIZE (bilinear), train and eval")
    g.add_argument("--channels", type=int, help="3 repeats grey images into RGB")
    g.add_argument("--normalize", choices=("auto", "card", "none"),
                   help="auto: the card's mean/std with --pretrained, else none (default auto)")
    g.add_argument("--crop-padding", type=int, help="random crop after zero-padding by this many pixels")
    g.add_argument("--flip", action="store_true", help="random horizontal flips")
    g.add_argument("--color-jitter", type=float, help="brightness/contrast/saturation factors in [1-J, 1+J]")
    g = p.add_argument_group("text (data sets of token sequences)")
    g.add_argument("--text-column", help="csv: data sets: column holding the text")
    g.add_argument("--label-column", help="csv: data sets: column holding the label")
    g.add_argument("--tokenizer", choices=("word", "char"))
    g.add_argument("--vocab-size", type=int, help="keep the N most frequent tokens (the rest become <unk>)")
    g.add_argument("--min-freq", type=int, help="tokens seen fewer times in train become <unk>")
    g.add_argument("--max-length", type=int, help="truncate texts to N tokens")
    g.add_argument("--seq-len", type=int, help="language models: tokens per training window")
    g.add_argument("--embeddings", metavar="VECTORS",
                   help="initialise the embedding table from word vectors: glove-6b-50d (or glove) or a .npz file "
                        "from zoo-embed")
    g.add_argument("--freeze-embeddings", action="store_true", help="keep the embedding table fixed")
    g = p.add_argument_group("transfer learning")
    g.add_argument("--pretrained", metavar="SOURCE", help="start from pretrained weights (a file, or a named "
                                                          "source from the card such as imagenet); fresh head")
    g.add_argument("--freeze-backbone", action="store_true", help="train only the classifier head")
    g.add_argument("--backbone-lr-scale", type=float, help="fine-tuning: backbone learning rate = lr x this")
    g = p.add_argument_group("run")
    g.add_argument("--workdir", help="checkpoints and reports (default: runs/MODEL-DATA)")
    g.add_argument("--resume", action="store_true", help="continue the run in --workdir from its last checkpoint")
    g.add_argument("--checkpoint-every", type=int, help="also checkpoint every N steps within an epoch")
    g.add_argument("--checkpoint-epochs", type=int, help="save at the end of every N-th epoch (default 1)")
    g.add_argument("--keep-checkpoints", type=int)
    g.add_argument("--parallel", choices=("jit", "pmap"), help="jit over a device Mesh (default) or pmap")
    g.add_argument("--no-progress", action="store_true")
    g.add_argument("--no-plots", action="store_true")
    g = p.add_argument_group("multi-process (multi-host) runs")
    g.add_argument("--coordinator", help="HOST:PORT of process 0, for jax.distributed.initialize")
    g.add_argument("--num-processes", type=int)
    g.add_argument("--process-id", type=int)
    g.add_argument("--init-timeout", type=int, default=300, help="seconds to wait for every process to join")
    return p


def _list(family: str | None) -> None:
    import zoo
    from train.data import list_datasets

    for name in zoo.list_models(family):
        c = zoo.model_card(name)
        ref = c.reference
        print(f"{name:22s} {c.family:8s} {c.task:15s} {c.default_dataset:14s} "
              f"{ref['metric']} {ref['value']} — {c.description.split(';')[0][:60]}")
    print("\ndata sets:", ", ".join(list_datasets()), "and any TFDS data set as tfds:NAME")


def config_from_args(args: argparse.Namespace):
    """The run's TrainConfig: the card's recipe with every flag that was given on top."""
    from train import config_for

    return config_for(
        args.model, dataset=args.dataset, data_dir=args.data_dir, validation_fraction=args.validation_fraction,
        limit_train=args.limit_train, limit_test=args.limit_test, epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
        schedule=args.schedule,
        warmup_steps=args.warmup_steps, decay_every=args.decay_every, decay_factor=args.decay_factor,
        clip_norm=args.clip_norm, loss=args.loss, l2=args.l2, patience=args.patience, seed=args.seed,
        resume=args.resume or None, checkpoint_every=args.checkpoint_every,
        checkpoint_epochs=args.checkpoint_epochs, keep_checkpoints=args.keep_checkpoints,
        parallel=args.parallel, progress=not args.no_progress, plots=not args.no_plots,
        model_overrides=dict(args.overrides) or None, image_size=args.image_size, channels=args.channels,
        normalize=args.normalize, crop_padding=args.crop_padding, flip=args.flip or None,
        color_jitter=args.color_jitter, pretrained=args.pretrained, freeze_backbone=args.freeze_backbone or None,
        backbone_lr_scale=args.backbone_lr_scale, text_column=args.text_column, label_column=args.label_column,
        tokenizer=args.tokenizer, vocab_size=args.vocab_size, min_freq=args.min_freq, max_length=args.max_length,
        seq_len=args.seq_len, embeddings=args.embeddings, freeze_embeddings=args.freeze_embeddings or None,
    )


def run(args: argparse.Namespace) -> dict:
    from train import train_and_evaluate
    from train.parallel import initialize_distributed

    if args.coordinator:
        initialize_distributed(args.coordinator, args.num_processes, args.process_id, args.init_timeout)
    config = config_from_args(args)
    import zoo
    dataset = config.dataset or zoo.model_card(args.model).default_dataset
    workdir = Path(args.workdir or f"runs/{args.model}-{dataset.replace(':', '_')}")
    return train_and_evaluate(config, workdir).summary | {"workdir": str(workdir)}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.list:
            _list(args.family)
            return 0
        if not args.model:
            build_parser().error("give a MODEL to train, or --list")
        if args.card:
            import zoo
            print(json.dumps(zoo.card(args.model), indent=2, default=str))
            return 0
        summary = run(args)
    except ZooError as err:
        print(f"zoo-train: error: {err}", file=sys.stderr)
        return 2
    if summary.get("test_exact_match") is not None:
        headline = (f"test exact match {summary['test_exact_match']:.4f} (greedy), "
                    f"token accuracy {summary['test_accuracy']:.4f}")
    elif summary.get("test_perplexity") is not None:
        headline = (f"test cross-entropy {summary['test_loss']:.4f} nats/token, perplexity "
                    f"{summary['test_perplexity']:.2f}, token accuracy {summary['test_accuracy']:.4f}")
    elif summary["test_accuracy"] is not None:
        headline = f"test accuracy {summary['test_accuracy']:.4f}"
        if summary.get("test_roc_auc") is not None:  # binary tasks (link prediction, molecules): the ranking metric
            headline += f", ROC-AUC {summary['test_roc_auc']:.4f}"
    else:
        headline = f"test MSE {summary['test_mse']:.4f}, R^2 {summary['test_r2']:.4f}"
    print(f"{summary['model']} on {summary['dataset']}: {headline} (test loss {summary['test_loss']:.4f}) after "
          f"{summary['epochs']} epochs, {summary['steps']} steps [{summary['stop_reason']}]; "
          f"reports in {summary['workdir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
