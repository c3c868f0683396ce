"""Blocks shared across families."""
from zoo.layers.inputs import flatten_features

__all__ = ["flatten_features"]
