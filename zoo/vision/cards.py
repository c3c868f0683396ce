"""One registration helper for the vision family, so every card carries the same fields."""
from __future__ import annotations

from typing import Any

from zoo.registry import ModelCard, register

# Short CPU-friendly default recipe; reference figures state their own recipes.
DEFAULT_RECIPE = {"epochs": 10, "batch_size": 128, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine"}


def register_vision(name: str, builder, *, reference: tuple[float, str, str], description: str,
                    defaults: dict[str, Any] | None = None, example_input_shape=(32, 32, 3),
                    default_dataset: str = "fashion_mnist", recipe: dict[str, Any] | None = None,
                    preprocessing: dict[str, Any] | None = None, head: tuple[str, ...] = ("fc",),
                    pretrained: dict[str, str] | None = None, metric: str = "test_accuracy",
                    input_spec: str = "float32 images [B, H, W, C] or [B, H, W] (NHWC, values scaled to [0, 1] "
                                      "or normalised as in `preprocessing`)") -> ModelCard:
    """`reference` = (value, dataset, source); the value is a fraction (0.697, not 69.7%)."""
    value, dataset, source = reference
    return register(ModelCard(
        name=name, family="vision", builder=builder, task="classification", loss="softmax_cross_entropy",
        default_dataset=default_dataset, input_spec=input_spec, example_input_shape=tuple(example_input_shape),
        reference={"metric": metric, "value": value, "dataset": dataset, "source": source},
        description=description, defaults=dict(defaults or {}), recipe={**DEFAULT_RECIPE, **(recipe or {})},
        preprocessing=dict(preprocessing or {}), head=tuple(head), pretrained=dict(pretrained or {}),
    ))
