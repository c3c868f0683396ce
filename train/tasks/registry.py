"""Task name -> Task class: the model card's `task` picks the class that trains it."""
from __future__ import annotations

from typing import Callable

from zoo.errors import UnknownNameError
from zoo.registry import suggest

TASKS: dict[str, type] = {}


def register_task(name: str) -> Callable[[type], type]:
    """Class decorator: `@register_task("gan")` makes cards with task='gan' train with this class."""

    def wrap(cls: type) -> type:
        if name in TASKS:
            raise ValueError(f"task {name!r} is registered twice")
        cls.name = name
        TASKS[name] = cls
        return cls

    return wrap


def task_for(name: str) -> type:
    if name not in TASKS:
        raise UnknownNameError(f"unknown task {name!r}.{suggest(name, list(TASKS))} Registered: {', '.join(TASKS)}")
    return TASKS[name]
