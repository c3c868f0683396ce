"""Linear models and multi-layer perceptrons."""
from zoo.linear import linear, mlp  # noqa: F401  (registers the models)
from zoo.linear.linear import LinearClassifier, LinearRegression
from zoo.linear.mlp import MLP

__all__ = ["LinearClassifier", "LinearRegression", "MLP"]
