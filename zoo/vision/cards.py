"""What every vision card shares; each model file registers itself with `register_model(**vision(...))`."""
from __future__ import annotations

from typing import Any

from zoo.layers.examples import float_inputs
from zoo.registry import Reference

# Short CPU-friendly default recipe; reference figures state their own recipes.
DEFAULT_RECIPE = {"epochs": 10, "batch_size": 128, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine"}
INPUT_SPEC = ("float32 images [B, H, W, C] or [B, H, W] (NHWC, values scaled to [0, 1] or normalised as in "
              "`preprocessing`)")


def vision(*, reference: tuple[float, str, str], recipe: dict[str, Any] | None = None, metric: str = "test_accuracy",
           **fields: Any) -> dict[str, Any]:
    """register_model's keyword arguments for an image classifier: the family's values, then `fields`.

    `reference` = (value, data set, source), the value a fraction (0.697, not 69.7%); `recipe` is merged over
    the family's default recipe."""
    value, dataset, source = reference
    return {"family": "vision", "task": "classification", "loss": "softmax_cross_entropy",
            "default_dataset": "fashion_mnist", "input_spec": INPUT_SPEC, "example_input_shape": (32, 32, 3),
            "example": float_inputs, "head": ("fc",), "data_fields": {"num_classes": "num_classes"},
            "reference": Reference(metric, value, dataset, source), "recipe": {**DEFAULT_RECIPE, **(recipe or {})},
            **fields}
