"""`zoo-train` / `python -m train`: train a zoo model from the shell."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from train.cli.errors import run_command
from train.cli.flags import add_config_flags, given_settings, parse_override
from train.stops import TrainingInterrupted


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zoo-train", description="Train a zoo model and report its test metrics. "
                                "Every training flag defaults to the model card's recipe.")
    p.add_argument("model", nargs="?", help="registered model name (see --list)")
    p.add_argument("--list", action="store_true", help="list models (with --family, only that family) and data sets")
    p.add_argument("--family", help="with --list: only this family")
    p.add_argument("--card", action="store_true", help="print the model's card as JSON and exit")
    p.add_argument("--recipe", help="start from a recipe of train/configs (e.g. mlp_fashion_mnist) instead of the "
                                    "card's; MODEL may be left out; the flags given still apply on top")
    p.add_argument("--set", dest="overrides", action="append", type=parse_override, default=[],
                   metavar="FIELD=VALUE", help="model field override, e.g. --set hidden=256,128")
    add_config_flags(p)
    g = p.add_argument_group("where")
    g.add_argument("--workdir", help="checkpoints and reports (default: runs/MODEL-DATA)")
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
        print(f"{name:22s} {c.family:9s} {c.task:15s} {c.default_dataset:14s} {c.reference}"
              f" — {c.description.split(';')[0][:60]}")
    print("\ndata sets:", ", ".join(list_datasets()), "and any TFDS data set as tfds:NAME")


def config_from_args(args: argparse.Namespace):
    """The run's TrainConfig: the recipe (the card's, or --recipe's) with every flag that was given on top."""
    from train.config import config_for

    settings = given_settings(args)
    if args.overrides:
        settings["model_overrides"] = dict(args.overrides)
    if getattr(args, "recipe", None):
        from train.configs import recipe

        chosen = recipe(args.recipe)
        if args.model and chosen.model != args.model:
            from zoo.errors import SettingError

            raise SettingError(f"recipe {args.recipe} trains {chosen.model}, not {args.model}; run zoo-train "
                               f"--recipe {args.recipe}")
        args.model = chosen.model
        # --set adds to the recipe's model overrides rather than replacing them
        overrides = {**chosen.settings.get("model_overrides", {}), **settings.get("model_overrides", {})}
        settings = {**chosen.settings, **settings} | ({"model_overrides": overrides} if overrides else {})
    return config_for(args.model, **settings)


def run(args: argparse.Namespace) -> dict:
    from train import train_and_evaluate
    from train.distributed import initialize_distributed

    if args.coordinator:
        initialize_distributed(args.coordinator, args.num_processes, args.process_id, args.init_timeout)
    config = config_from_args(args)
    import zoo
    dataset = config.data.dataset or zoo.model_card(args.model).default_dataset
    workdir = Path(args.workdir or f"runs/{args.model}-{dataset.replace(':', '_').replace('/', '_')}")
    return train_and_evaluate(config, workdir).summary | {"workdir": str(workdir)}


def headline(summary: dict) -> str:
    """The line zoo-train prints: the model's task says which figures matter."""
    import zoo
    from train.tasks import task_for

    figures = task_for(zoo.model_card(summary["model"]).task).headline(summary)
    loss = f" (test loss {summary['test_loss']:.4f})" if summary.get("test_loss") is not None else ""
    return (f"{summary['model']} on {summary['dataset']}: {figures}{loss} after {summary['epochs']} epochs, "
            f"{summary['steps']} steps [{summary['stop_reason']}]; reports in {summary['workdir']}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def command() -> int:
        if args.list:
            _list(args.family)
            return 0
        if not args.model and not args.recipe:
            parser.error("give a MODEL to train, a --recipe, or --list")
        if args.card:
            if not args.model:
                parser.error("--card needs a MODEL")
            import zoo
            print(json.dumps(zoo.card(args.model), indent=2, default=str))
            return 0
        try:
            summary = run(args)
        except TrainingInterrupted as stopped:
            given = list(sys.argv[1:] if argv is None else argv)
            again = shlex.join(["zoo-train", *given, *([] if "--resume" in given else ["--resume"])])
            raise TrainingInterrupted(f"{stopped}:\n  {again}", stopped.step) from None
        print(headline(summary))
        return 0

    return run_command("zoo-train", command)


if __name__ == "__main__":
    sys.exit(main())
