"""The front doors, side by side: `zoo-train` (train.cli.train), `zoo-predict` (predict), `zoo-generate`
(generate) and `zoo-embed` (embed). They build their flags from the same config fields (flags) and share one
error handler (errors): a clear message and exit status 2 for every error the program understands."""
from train.cli.train import build_parser, config_from_args, main

__all__ = ["build_parser", "config_from_args", "main"]
