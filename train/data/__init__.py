"""Data sets by name, split into train/validation/test, and seeded resumable batching."""
from train.data.batching import eval_batches, steps_per_epoch, train_batches
from train.data.registry import MissingDataError, list_datasets, load_dataset, load_for_run, register_dataset
from train.data.sources import ArraySource, Dataset
from train.data.text import TextDataError, TextOptions

__all__ = [
    "ArraySource", "Dataset", "MissingDataError", "eval_batches", "list_datasets", "load_dataset",
    "load_for_run", "register_dataset", "steps_per_epoch", "TextDataError", "TextOptions", "train_batches",
]
