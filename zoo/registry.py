"""Name -> architecture registry, in the spirit of timm's `create_model`.

Every architecture registers once, through `register_model`, with a `ModelCard`: how to build it, what it
eats, which task and data set it is meant for, the figure it should reach (a `Reference` that names its data
set), and its interface with training: which of its fields the task fills from the data set (`data_fields`),
whether it reads the targets (teacher forcing), the weight of auxiliary-head losses, and how to make a random
batch it accepts (`example`, the family's hook, used by tests and parameter counts).
"""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable, Mapping

import flax.linen as nn

from zoo.errors import UnknownFieldError, UnknownNameError

# What a data set can tell a model (train.data.Dataset.properties): a card's `data_fields` map model fields
# to these names.
DATA_PROPERTIES = ("num_classes", "num_targets", "input_features", "vocab_size", "pad_id", "graph_level")


@dataclasses.dataclass(frozen=True)
class Reference:
    """The figure a model should reach: `metric` = `value` on `dataset`, according to `source`.

    Fractions, not percentages (0.698, not 69.8). `dataset` is where the figure was measured, which need not
    be the card's default data set (ImageNet top-1 for a model whose default training set is Fashion-MNIST)."""

    metric: str
    value: float
    dataset: str
    source: str

    def __str__(self) -> str:
        return f"{self.metric} {self.value} on {self.dataset}"


Example = Callable[["ModelCard", int, int], tuple[Any, dict]]  # (card, batch size, seed) -> (x, apply kwargs)


@dataclasses.dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
    builder: Callable[..., nn.Module]
    # The train.tasks task that trains it: 'classification', 'regression', 'language_model' (outputs [B, T, V],
    # targets [B, T]), 'seq2seq', 'graph', 'word2vec', 'glove', ...
    task: str
    loss: str  # default loss name, see train.losses ('' for tasks with their own objective)
    default_dataset: str
    input_spec: str  # human-readable: dtype and shape the module expects
    example_input_shape: tuple[int, ...]  # one example, used by tests and param counts
    reference: Reference
    example: Example  # a random batch the model accepts: the family's hook (zoo.layers.examples, zoo.graph)
    description: str = ""
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Training defaults the reference figure was reached with; the CLI flags override them.
    recipe: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Input pipeline the reference weights expect: {'resize', 'crop', 'mean', 'std', 'interpolation'}.
    preprocessing: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Top-level parameter names of the classifier head: replaced (re-initialised) for a new number
    # of classes in transfer learning; everything else is the backbone.
    head: tuple[str, ...] = ()
    # Named pretrained weights: {'imagenet': 'pip:PACKAGE/FILE' or a path}; see zoo.weights.
    pretrained: dict[str, str] = dataclasses.field(default_factory=dict)
    # 'float32' (images, features), 'int32' (token ids in [0, defaults['vocab_size'])) or
    # 'graph' (a padded jraph.GraphsTuple whose nodes have example_input_shape features).
    input_dtype: str = "float32"
    # The model's interface with training. `data_fields`: model field -> data-set property (DATA_PROPERTIES)
    # the task sets it from, e.g. {'num_classes': 'num_classes', 'vocab_size': 'vocab_size'}.
    data_fields: Mapping[str, str] = dataclasses.field(default_factory=dict)
    reads_targets: bool = False  # teacher forcing: the task calls model(x, targets=y, train=...)
    aux_loss_weight: float = 0.0  # training adds weight * the losses of logits sown in 'aux_outputs'

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("builder", "example")}
        out["reference"] = dataclasses.asdict(self.reference)
        out["data_fields"] = dict(self.data_fields)
        out["module"] = f"{self.builder.__module__}.{self.builder.__qualname__}"
        return out


_MODELS: dict[str, ModelCard] = {}


def register_model(name: str, builder: Callable[..., nn.Module], *, family: str, task: str, loss: str,
                   default_dataset: str, input_spec: str, example_input_shape: tuple[int, ...], reference: Reference,
                   example: Example, description: str = "", defaults: Mapping[str, Any] | None = None,
                   recipe: Mapping[str, Any] | None = None, preprocessing: Mapping[str, Any] | None = None,
                   head: tuple[str, ...] = (), pretrained: Mapping[str, str] | None = None,
                   input_dtype: str = "float32", data_fields: Mapping[str, str] | None = None,
                   reads_targets: bool = False, aux_loss_weight: float = 0.0) -> ModelCard:
    """Register an architecture under `name`: the one way a model enters the zoo. Returns its card."""
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    if not isinstance(reference, Reference):
        raise TypeError(f"{name}: reference must be a zoo.registry.Reference(metric, value, dataset, source)")
    fields = {f.name for f in dataclasses.fields(builder)}
    unknown = sorted(set(data_fields or {}) - fields)
    if unknown:
        raise ValueError(f"{name}: data_fields names {', '.join(unknown)}, which {builder.__name__} does not have")
    bad = sorted(set((data_fields or {}).values()) - set(DATA_PROPERTIES))
    if bad:
        raise ValueError(f"{name}: data_fields maps to {', '.join(bad)}; a data set provides {', '.join(DATA_PROPERTIES)}")
    card = ModelCard(
        name=name, family=family, builder=builder, task=task, loss=loss, default_dataset=default_dataset,
        input_spec=input_spec, example_input_shape=tuple(example_input_shape), reference=reference, example=example,
        description=description, defaults=dict(defaults or {}), recipe=dict(recipe or {}),
        preprocessing=dict(preprocessing or {}), head=tuple(head), pretrained=dict(pretrained or {}),
        input_dtype=input_dtype, data_fields=dict(data_fields or {}), reads_targets=reads_targets,
        aux_loss_weight=float(aux_loss_weight))
    _MODELS[name] = card
    return card


def suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def _lookup(name: str) -> ModelCard:
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model {name!r}.{suggest(name, list(_MODELS))} "
            f"zoo.list_models() lists all {len(_MODELS)} models."
        ) from None


def list_models(family: str | None = None, *, task: str | None = None) -> list[str]:
    """Sorted registered names, optionally only those of one family (or trained by one task)."""
    if family is not None and family not in {c.family for c in _MODELS.values()}:
        families = sorted({c.family for c in _MODELS.values()})
        raise UnknownNameError(f"unknown family {family!r}; known families: {', '.join(families)}")
    return sorted(n for n, c in _MODELS.items()
                  if (family is None or c.family == family) and (task is None or c.task == task))


def create(name: str, **overrides: Any) -> nn.Module:
    """Build the named module; `overrides` replace the card's default fields."""
    card = _lookup(name)
    fields = {f.name for f in dataclasses.fields(card.builder)} - {"parent", "name"}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise UnknownFieldError(
            f"{name} has no field(s) {', '.join(unknown)}; its fields are: {', '.join(sorted(fields))}"
        )
    return card.builder(**{**card.defaults, **overrides})


def card(name: str) -> dict[str, Any]:
    """The model's card as a plain dict, with its parameter count at default settings."""
    model_card = _lookup(name)
    out = model_card.to_dict()
    # Counted at the size the reference weights were made for (a ResNet's stem depends on it).
    if model_card.input_dtype != "float32":  # token ids, graphs: the count does not depend on lengths or sizes
        import jax

        x, kwargs = example_batch(model_card, 1)
        shapes = jax.eval_shape(lambda: create(name).init(jax.random.key(0), x, **kwargs))
        out["param_count"] = int(sum(v.size for v in jax.tree.leaves(shapes.get("params", {}))))
    else:
        out["param_count"] = count_params(create(name), reference_input_shape(model_card))
    return out


def reference_input_shape(model_card: ModelCard) -> tuple[int, ...]:
    """One example's shape at the size the reference weights expect: the card's crop, else its example shape."""
    crop = model_card.preprocessing.get("crop")
    return (crop, crop, 3) if crop else tuple(model_card.example_input_shape)


def model_card(name: str) -> ModelCard:
    return _lookup(name)


def count_params(module: nn.Module, example_input_shape: tuple[int, ...]) -> int:
    import jax
    import jax.numpy as jnp

    shapes = jax.eval_shape(
        lambda: module.init(jax.random.key(0), jnp.zeros((1, *example_input_shape), jnp.float32))
    )
    return int(sum(x.size for x in jax.tree.leaves(shapes.get("params", {}))))


def example_batch(model_card: ModelCard | str, batch_size: int, seed: int = 0):
    """(x, apply_kwargs): one random batch the model accepts at its default settings, from its family's hook."""
    if isinstance(model_card, str):
        model_card = _lookup(model_card)
    return model_card.example(model_card, batch_size, seed)
