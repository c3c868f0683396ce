"""Image classification figures measured by the accuracy tests (`pytest -m slow`), each with its card's recipe.

The tests assert the bar (published figure); the value below is what the run reached when last measured on
2 CPU cores, and what the README quotes.
"""
from train.configs import Recipe

TESTS = "tests/test_accuracy_real_data.py"

RECIPES = [
    Recipe(name="mlp_fashion_mnist", model="mlp", settings={"dataset": "fashion_mnist"},
           command="zoo-train mlp --data fashion_mnist", measured={"test_accuracy": 0.8987},
           source=f"{TESTS}::test_mlp_on_fashion_mnist_beats_zalando_mlp"),
    Recipe(name="lenet5_mnist", model="lenet5", settings={"dataset": "mnist", "data_dir": "../shared/data"},
           command="zoo-train lenet5 --data mnist --data-dir ../shared/data", measured={"test_accuracy": 0.9927},
           source=f"{TESTS}::test_lenet5_on_mnist_reaches_099"),
    Recipe(name="cnn_small_fashion_mnist", model="cnn_small", settings={"dataset": "fashion_mnist"},
           command="zoo-train cnn_small --data fashion_mnist", measured={"test_accuracy": 0.918},
           source=f"{TESTS}::test_cnn_small_on_fashion_mnist_reaches_091"),
    Recipe(name="gru_rows_fashion_mnist", model="gru_rows", settings={"dataset": "fashion_mnist"},
           command="zoo-train gru_rows --data fashion_mnist", measured={"test_accuracy": 0.8984},
           source="tests/test_row_reader.py::test_card_recipe_reaches_zalando_gru_figure"),
]
