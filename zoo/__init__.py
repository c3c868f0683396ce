"""zoo: classic deep-learning architectures as pure-functional Flax Linen modules.

    >>> import zoo
    >>> zoo.list_models("mlp")
    ['mlp', 'mlp_small']
    >>> model = zoo.create("mlp", num_classes=10)
"""
from zoo import graph, linear, sequence, vision  # noqa: F401  (importing a family registers its models)
from zoo.errors import InputShapeError, UnknownNameError, ZooError
from zoo.registry import ModelCard, card, create, list_models, model_card, register

__all__ = [
    "InputShapeError", "ModelCard", "UnknownNameError", "ZooError",
    "card", "create", "list_models", "model_card", "register",
]
__version__ = "0.1.0"
