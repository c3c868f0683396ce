"""What every sequence card shares; each model file registers itself with `register_model(**sequence(...))`."""
from __future__ import annotations

from typing import Any

from zoo.layers.examples import token_ids
from zoo.registry import Reference

# Short CPU-friendly default recipe; reference figures state their own recipes.
DEFAULT_RECIPE = {"epochs": 10, "batch_size": 64, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine"}
TOKEN_INPUT_SPEC = "int32 token ids [B, T], pad_id (0) = padding (right-padded)"


def sequence(*, reference: tuple[float, str, str], recipe: dict[str, Any] | None = None,
             metric: str = "test_accuracy", **fields: Any) -> dict[str, Any]:
    """register_model's keyword arguments for a token model: the family's values, then `fields`.

    `reference` = (value, data set, source), accuracies as fractions (0.85, not 85%); `recipe` is merged over
    the family's default recipe. Token models by default classify a text: the task fills the number of
    classes, the vocabulary size and the padding id from the data set."""
    value, dataset, source = reference
    return {"family": "sequence", "task": "classification", "loss": "softmax_cross_entropy",
            "default_dataset": "fine_foods", "input_spec": TOKEN_INPUT_SPEC, "example_input_shape": (32,),
            "example": token_ids, "input_dtype": "int32",
            "data_fields": {"num_classes": "num_classes", "vocab_size": "vocab_size", "pad_id": "pad_id"},
            "reference": Reference(metric, value, dataset, source), "recipe": {**DEFAULT_RECIPE, **(recipe or {})},
            **fields}
