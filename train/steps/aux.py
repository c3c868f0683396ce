"""Auxiliary heads (GoogLeNet's): logits a model sows into 'aux_outputs' in train mode add to the loss.

They are written by the forward pass for this step only (never carried in the state) and the eval step reads
the main head alone; the card declares their weight (`aux_loss_weight`, 0.3 for GoogLeNet)."""
from __future__ import annotations

from typing import Any

import jax

AUX_COLLECTION = "aux_outputs"


def split_aux(written: dict[str, Any]) -> tuple[dict[str, Any], list]:
    """Collections a training forward pass wrote -> (the ones to keep, e.g. batch_stats; the aux logits)."""
    kept = {k: v for k, v in written.items() if k != AUX_COLLECTION}
    return kept, jax.tree.leaves(written.get(AUX_COLLECTION, {}))
