"""Foreign checkpoints (PyTorch, safetensors, numpy) into Flax variables; safe formats only.

    >>> from zoo.weights import load_pretrained
    >>> model, variables = load_pretrained("efficientnet_lite0", "imagenet")            # ImageNet classifier
    >>> model, variables = load_pretrained("efficientnet_lite0", "imagenet", num_classes=10)  # new head
"""
from zoo.weights.convert import WeightsMismatchError, flax_path, torch_to_flax
from zoo.weights.pretrained import MissingWeightsError, load_pretrained, resolve_source
from zoo.weights.torch_file import UnsafeWeightsError, WeightsFileError, read_state_dict

__all__ = ["MissingWeightsError", "UnsafeWeightsError", "WeightsFileError", "WeightsMismatchError", "flax_path",
           "load_pretrained", "read_state_dict", "resolve_source", "torch_to_flax"]
