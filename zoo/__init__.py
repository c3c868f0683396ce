"""zoo: classic deep-learning architectures as pure-functional Flax Linen modules.

    >>> import zoo
    >>> zoo.list_models("mlp")
    ['mlp', 'mlp_small']
    >>> model = zoo.create("mlp", num_classes=10)
"""
from zoo import graph, linear, sequence, text, vision  # noqa: F401  (importing a family registers its models)
from zoo.errors import InputShapeError, UnknownNameError, ZooError
from zoo.registry import ModelCard, Reference, card, create, example_batch, list_models, model_card, register_model

__all__ = [
    "InputShapeError", "ModelCard", "Reference", "UnknownNameError", "ZooError",
    "card", "create", "example_batch", "list_models", "model_card", "register_model",
]
__version__ = "0.1.0"
