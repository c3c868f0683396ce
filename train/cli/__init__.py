"""The front doors, side by side: `zoo-train` (train.cli.train), `zoo-predict` (predict), `zoo-generate`
(generate) and `zoo-embed` (embed). They build their flags from the same config fields (flags) and share one
error handler (errors): a clear message and exit status 2 for every error the program understands."""

__all__ = ["build_parser", "config_from_args", "main"]


def __getattr__(name: str):
    # Imported on first use, so that `python -m train.cli.train` does not find its module already imported.
    if name in __all__:
        from train.cli import train

        return getattr(train, name)
    raise AttributeError(f"module 'train.cli' has no attribute {name!r}")
