"""torch.nn.RNN / GRU / LSTM state dict -> params of zoo.sequence.Recurrent.

Both sides fuse the gates in the same order (LSTM i,f,g,o; GRU r,z,n), so each weight is a
transpose: torch `weight_ih_l{k}[_reverse]` [G*H, D] -> `l{k}[_reverse]/kernel_ih` [D, G*H],
`weight_hh_l{k}` [G*H, H] -> `kernel_hh` [H, G*H]; biases copy as they are.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from zoo.weights.convert import WeightsMismatchError

_LEAVES = {"weight_ih": "kernel_ih", "weight_hh": "kernel_hh", "bias_ih": "bias_ih", "bias_hh": "bias_hh"}


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, possibly requiring grad
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def recurrent_params_from_torch(state_dict: Mapping[str, Any], num_layers: int, bidirectional: bool,
                                prefix: str = "") -> dict[str, dict[str, np.ndarray]]:
    """A torch recurrent module's state dict (numpy arrays or tensors) -> the `params` dict of a
    `Recurrent` with the same cell, hidden size, `num_layers` and `bidirectional`.

    `prefix` selects the module inside a larger state dict (e.g. 'encoder.rnn.'); other keys are
    ignored. A module built with bias=False gets zero biases. Missing, unexpected or mis-shaped
    keys raise WeightsMismatchError listing each one.
    """
    own = {key[len(prefix):]: _numpy(value) for key, value in state_dict.items() if key.startswith(prefix)}
    if "weight_hh_l0" not in own:
        raise WeightsMismatchError(
            f"no key {prefix}weight_hh_l0 in the state dict: not a torch RNN/GRU/LSTM state dict, or the "
            f"prefix {prefix!r} is wrong (keys start with: {sorted(state_dict)[:5]})")
    gates_hidden, hidden = own["weight_hh_l0"].shape
    has_bias = "bias_ih_l0" in own
    directions = ("", "_reverse") if bidirectional else ("",)
    params: dict[str, dict[str, np.ndarray]] = {}
    used, missing, misshaped = set(), [], []
    for layer in range(num_layers):
        input_size = None if layer == 0 else hidden * len(directions)
        for suffix in directions:
            module = f"l{layer}{suffix}"
            params[module] = {}
            for torch_leaf, flax_leaf in _LEAVES.items():
                key = f"{torch_leaf}_l{layer}{suffix}"
                if key not in own:
                    if torch_leaf.startswith("bias") and not has_bias:
                        params[module][flax_leaf] = np.zeros(gates_hidden, np.float32)
                    else:
                        missing.append(prefix + key)
                    continue
                used.add(key)
                array = own[key]
                width = {"weight_ih": input_size or array.shape[-1], "weight_hh": hidden}.get(torch_leaf)
                expected = (gates_hidden,) if width is None else (gates_hidden, width)
                if array.shape != expected:
                    misshaped.append(f"{prefix}{key}: {array.shape}, expected {expected}")
                    continue
                params[module][flax_leaf] = array.T.copy() if array.ndim == 2 else array
    unexpected = sorted(prefix + key for key in set(own) - used)
    if missing or misshaped or unexpected:
        parts = [f"torch recurrent weights do not match Recurrent(num_layers={num_layers}, "
                 f"bidirectional={bidirectional}, hidden_size={hidden}):"]
        for title, items in (("missing", missing), ("shape mismatches", misshaped),
                             ("in the state dict but not in the model", unexpected)):
            if items:
                parts.append(f"  {title} ({len(items)}): " + ", ".join(items))
        parts.append("Pass the torch module's num_layers and bidirectional, and a prefix that selects only "
                     "that module; projected LSTMs (proj_size > 0) are not supported.")
        raise WeightsMismatchError("\n".join(parts))
    return params
