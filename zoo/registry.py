"""Name -> architecture registry, in the spirit of timm's `create_model`.

Every architecture registers a `ModelCard`: how to build it, what it eats,
which task and data set it is meant for, and the figure it should reach.
"""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable

import flax.linen as nn

from zoo.errors import UnknownNameError


@dataclasses.dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
    builder: Callable[..., nn.Module]
    # 'classification' | 'regression' | 'language_model' (outputs [B, T, V], targets [B, T])
    # | 'seq2seq' (called as model(x, targets=y); outputs [B, T, V])
    task: str
    loss: str  # default loss name, see train.losses
    default_dataset: str
    input_spec: str  # human-readable: dtype and shape the module expects
    example_input_shape: tuple[int, ...]  # one example, used by tests and param counts
    reference: dict[str, Any]  # {'metric', 'value', 'dataset', 'source'}
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
    # 'float32' (images, features), 'int32' (token ids in [0, defaults['vocab_size']), 0 = padding) or
    # 'graph' (a padded jraph.GraphsTuple whose nodes have example_input_shape features).
    input_dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "builder"}
        out["module"] = f"{self.builder.__module__}.{self.builder.__qualname__}"
        return out


_MODELS: dict[str, ModelCard] = {}


def register(card: ModelCard) -> ModelCard:
    if card.name in _MODELS:
        raise ValueError(f"model {card.name!r} is registered twice")
    _MODELS[card.name] = card
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


def list_models(family: str | None = None) -> list[str]:
    """Sorted registered names, optionally only those of one family."""
    if family is not None and family not in {c.family for c in _MODELS.values()}:
        families = sorted({c.family for c in _MODELS.values()})
        raise UnknownNameError(f"unknown family {family!r}; known families: {', '.join(families)}")
    return sorted(n for n, c in _MODELS.items() if family is None or c.family == family)


def create(name: str, **overrides: Any) -> nn.Module:
    """Build the named module; `overrides` replace the card's default fields."""
    card = _lookup(name)
    fields = {f.name for f in dataclasses.fields(card.builder)} - {"parent", "name"}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(
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


TOKEN_TASKS = ("language_model", "seq2seq")  # outputs [B, T, V]: one prediction per target token


def example_batch(model_card: ModelCard, batch_size: int, seed: int = 0):
    """(x, apply_kwargs) for one random batch the model accepts: normal floats, token ids >= 1 (no padding),
    or `batch_size` random graphs padded into one GraphsTuple (plus jraph's padding graph).

    Seq2seq models also get `targets` (teacher forcing)."""
    import jax

    if model_card.input_dtype == "graph":
        return random_graphs(batch_size, model_card.example_input_shape[0], seed), {}
    key_x, key_y = jax.random.split(jax.random.key(seed))
    shape = (batch_size, *model_card.example_input_shape)
    if model_card.input_dtype != "int32":
        return jax.random.normal(key_x, shape), {}
    vocab = model_card.defaults.get("vocab_size") or model_card.defaults["src_vocab_size"]
    x = jax.random.randint(key_x, shape, 1, vocab)
    if model_card.task != "seq2seq":
        return x, {}
    target_vocab = model_card.defaults.get("tgt_vocab_size", vocab)
    return x, {"targets": jax.random.randint(key_y, shape, 1, target_vocab)}


def random_graphs(count: int, features: int, seed: int = 0):
    """`count` random undirected graphs of 2-7 nodes with normal node features, padded into one GraphsTuple."""
    import numpy as np

    from zoo.graph.batching import pad_batch, undirected_graph

    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(count):
        n = int(rng.integers(2, 8))
        pairs = [(u, v) for u in range(n) for v in range(u + 1, n) if rng.random() < 0.5] or [(0, 1)]
        graphs.append(undirected_graph(rng.normal(size=(n, features)), np.array(pairs)))
    return pad_batch(graphs, count + 1)
