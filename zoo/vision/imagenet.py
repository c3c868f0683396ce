"""ImageNet-1k class names, in the index order of torchvision's (and most) ImageNet weights."""
from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 human-readable class names; entry i names logit i (e.g. 281 is 'tabby')."""
    text = resources.files("zoo.vision").joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    names = tuple(line for line in text.splitlines() if line)
    if len(names) != 1000:
        raise RuntimeError(f"zoo/vision/imagenet_classes.txt holds {len(names)} names, expected 1000; "
                           "the installed package is damaged (reinstall zoo)")
    return names
