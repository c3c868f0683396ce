"""One registration helper for the sequence family, so every card carries the same fields."""
from __future__ import annotations

from typing import Any

from zoo.registry import ModelCard, register

# Short CPU-friendly default recipe; reference figures state their own recipes.
DEFAULT_RECIPE = {"epochs": 10, "batch_size": 64, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine"}


def register_sequence(name: str, builder, *, reference: tuple[float, str, str], description: str,
                      task: str = "classification", default_dataset: str = "fine_foods",
                      defaults: dict[str, Any] | None = None, example_input_shape=(32,),
                      recipe: dict[str, Any] | None = None, head: tuple[str, ...] = (),
                      metric: str = "test_accuracy", input_dtype: str = "int32", loss: str = "softmax_cross_entropy",
                      input_spec: str = "int32 token ids [B, T], 0 = padding (right-padded)") -> ModelCard:
    """`reference` = (value, dataset, source); accuracies are fractions (0.85, not 85%)."""
    value, dataset, source = reference
    return register(ModelCard(
        name=name, family="sequence", builder=builder, task=task, loss=loss,
        default_dataset=default_dataset, input_spec=input_spec, example_input_shape=tuple(example_input_shape),
        reference={"metric": metric, "value": value, "dataset": dataset, "source": source},
        description=description, defaults=dict(defaults or {}), recipe={**DEFAULT_RECIPE, **(recipe or {})},
        head=tuple(head), input_dtype=input_dtype,
    ))
