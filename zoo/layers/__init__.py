"""Blocks shared across families."""
from zoo.layers.heads import predict_classes
from zoo.layers.inputs import flatten_features

__all__ = ["flatten_features", "predict_classes"]
