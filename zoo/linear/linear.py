"""Single-layer linear models: perceptron, logistic regression, linear SVM, linear regression.

The three classifiers share one module, a score s = w.x + b; they differ in
the loss they are trained with (the card's `loss`) and nothing else, which is
exactly how the textbook treats them. With two classes the module emits one
score per example; with K > 2 it emits K one-vs-rest scores.
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from zoo.layers import flatten_features, predict_classes
from zoo.layers.examples import float_inputs
from zoo.registry import Reference, register_model


class LinearClassifier(nn.Module):
    """Scores [B, 1] for two classes, [B, K] (one-vs-rest) for K > 2."""

    num_classes: int = 2
    in_features: int | None = None
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):  # x: [B, ...] -> [B, 1 or K]
        del train
        flat = flatten_features(x, self.in_features, type(self).__name__)
        outputs = 1 if self.num_classes == 2 else self.num_classes
        scores = nn.Dense(outputs, dtype=self.dtype, param_dtype=self.param_dtype, name="linear")(flat)
        return scores.astype(jnp.float32)

    def predict(self, x):
        """Class ids: Heaviside step on the score for two classes, argmax otherwise."""
        return predict_classes(self(x))


class LinearRegression(nn.Module):
    num_outputs: int = 1
    in_features: int | None = None
    dtype: jnp.dtype = jnp.float32
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):  # x: [B, ...] -> [B, num_outputs]
        del train
        flat = flatten_features(x, self.in_features, type(self).__name__)
        out = nn.Dense(self.num_outputs, dtype=self.dtype, param_dtype=self.param_dtype, name="linear")(flat)
        return out.astype(jnp.float32)


_SKLEARN_SPLIT = "same stratified 80/20 split, standardised features, scikit-learn 1.9 defaults"


def _register_linear(name: str, builder, loss: str, dataset: str, reference: tuple[str, float, str],
                     description: str, recipe: dict, example_features: int, task: str = "classification") -> None:
    metric, value, source = reference
    outputs = {"classification": {"num_classes": "num_classes"}, "regression": {"num_outputs": "num_targets"}}[task]
    register_model(
        name, builder, family="linear", task=task, loss=loss, default_dataset=dataset,
        input_spec="float32 [B, F] (trailing axes are flattened); F fixed at first call",
        example_input_shape=(example_features,), example=float_inputs,
        reference=Reference(metric, value, dataset, source), description=description, recipe=recipe,
        data_fields={**outputs, "in_features": "input_features"},
    )


_register_linear(
    "perceptron", LinearClassifier, "perceptron", "breast_cancer",
    ("test_accuracy", 0.965, f"sklearn.linear_model.Perceptron, {_SKLEARN_SPLIT}"),
    "Rosenblatt perceptron: step activation on a linear score, trained with the perceptron criterion "
    "max(0, -y*s); plain SGD on it is the perceptron update rule.",
    {"epochs": 20, "batch_size": 32, "optimizer": "sgd", "lr": 0.1}, example_features=30)

_register_linear(
    "logistic_regression", LinearClassifier, "sigmoid_cross_entropy", "breast_cancer",
    ("test_accuracy", 0.982, f"sklearn.linear_model.LogisticRegression, {_SKLEARN_SPLIT}"),
    "Sigmoid of a linear score trained with binary cross-entropy (one-vs-rest for K>2).",
    {"epochs": 50, "batch_size": 32, "optimizer": "sgd", "lr": 0.1}, example_features=30)

_register_linear(
    "linear_svm", LinearClassifier, "hinge", "breast_cancer",
    ("test_accuracy", 0.974, f"sklearn.svm.LinearSVC, {_SKLEARN_SPLIT}"),
    "Soft-margin linear SVM in the primal: hinge loss plus an L2 penalty on the weights.",
    {"epochs": 50, "batch_size": 32, "optimizer": "sgd", "lr": 0.01, "l2": 1e-3}, example_features=30)

_register_linear(
    "linear_regression", LinearRegression, "mse", "diabetes",
    ("test_r2", 0.332, "sklearn.linear_model.LinearRegression (ordinary least squares) on the same 80/20 split, "
                       "standardised features and target"),
    "Least squares by gradient descent on mean squared error.",
    {"epochs": 100, "batch_size": 32, "optimizer": "sgd", "lr": 0.05}, example_features=10, task="regression")
