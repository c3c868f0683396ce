"""The one-network tasks trained on a loss of (outputs, targets): what classification, regression, language
modelling, seq2seq and graph tasks share.

A subclass chooses the step's strategies (train.steps.supervised: how the model reads a batch, what each loss
weighs, what the eval step returns) and turns eval outputs into metrics. This base builds the model from its
card and the data set, the optimizer (learning-rate schedule, L2, per-group rates for transfer learning), the
initial variables (seeded init, pretrained backbone, pretrained word vectors) and the step.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np
import optax

from train import transfer
from train.augment import augmentation_of, image_inputs, image_pipeline
from train.losses import get_loss
from train.optim import make_optimizer
from train.state import create_train_state, init_variables
from train.steps.supervised import (SupervisedStep, class_hits, example_weights, per_example, plain_call,
                                    teacher_forced_call)
from train.steps.lora import LORA_KEY, model_view, split_adapters, with_adapters
from train.tasks.base import Task, build_model, model_has_field, training_copy
from zoo.errors import ZooError


ADAPTERS_FILE = "adapters.safetensors"  # a LoRA run's adapters in the workdir, loadable on their own
LORA_SEED_STREAM = 0x10A  # the adapters' draws: their own stream of the run's seed, apart from the model's init


class SupervisedTask(Task):
    # Strategies (train.steps.supervised); subclasses override what differs.
    call: Callable = staticmethod(plain_call)
    report: Callable = staticmethod(per_example)
    hits: Callable | None = staticmethod(class_hits)

    def __init__(self, config, card, dataset, parallel):
        super().__init__(config, card, dataset, parallel)
        self.model = build_model(card, self.dataset, config, **self.model_fields())
        head = tuple(card.head)
        self.lora = config.transfer.lora()
        transferring = config.transfer.freeze_backbone or config.transfer.backbone_lr_scale != 1.0
        if transferring and not head:
            raise ZooError(f"{card.name}'s card names no classifier head, so its backbone cannot be frozen or "
                           "trained at a different rate; drop --freeze-backbone / --backbone-lr-scale"
                           + (" (--lora R trains adapters on frozen weights)" if card.task == "language_model"
                              else ""))
        if self.lora is not None and transferring:
            raise ZooError("--lora freezes every weight and trains adapters only; drop --freeze-backbone / "
                           "--backbone-lr-scale, or drop --lora")
        self.trainable = (LORA_KEY,) if self.lora is not None else head if config.transfer.freeze_backbone else ()
        self.step = SupervisedStep(
            training_copy(self.model, parallel), self.optimizer(), get_loss(config.task.loss or card.loss),
            call=teacher_forced_call if card.reads_targets else self.call, inputs=self.inputs(), weights=self.weights(), hits=self.hits, report=self.report,
            trainable=self.trainable, aux_loss_weight=self.aux_loss_weight(),
            view=None if self.lora is None else model_view(self.lora))
        self.embedding_coverage = None

    # --- hooks ---------------------------------------------------------------------------------------------------
    def model_fields(self) -> dict[str, Any]:
        """Model fields the task sets from its settings (beyond the card's data fields)."""
        text = self.config.text
        if text.freeze_embeddings or text.embeddings:
            if not model_has_field(self.card, "embed_dim"):
                raise ZooError(f"{self.card.name} has no word-embedding table; --embeddings and --freeze-embeddings "
                               "apply to token models (zoo.list_models('sequence'))")
            return {"freeze_embeddings": text.freeze_embeddings}
        return {}

    def inputs(self) -> Callable:
        """(x, key or None) -> the model's input: the image pipeline (a no-op unless images are resized,
        normalised or augmented)."""
        pretrained = bool(self.config.transfer.pretrained)
        return image_pipeline(image_inputs(self.config.image, self.card, self.dataset.input_shape, pretrained),
                              augmentation_of(self.config.image))

    def weights(self) -> Callable:
        return example_weights

    def aux_loss_weight(self) -> float:
        weight = self.config.task.aux_loss_weight
        return self.card.aux_loss_weight if weight is None else float(weight)

    def call_kwargs(self, y) -> dict[str, Any]:
        """Extra model inputs at init: teacher-forced models (the card's `reads_targets`) read the targets."""
        return {"targets": y} if self.card.reads_targets else {}

    # --- optimizer and state -------------------------------------------------------------------------------------
    def optimizer(self) -> optax.GradientTransformation:
        config, head = self.config, tuple(self.card.head)
        tx = make_optimizer(config.optim, self.total_steps)
        if config.task.l2:  # the SVM's regulariser: l2 * W added to the gradient of every weight matrix
            tx = optax.chain(optax.add_decayed_weights(config.task.l2, mask=_matrices), tx)
        if config.transfer.backbone_lr_scale != 1.0 and not config.transfer.freeze_backbone:
            tx = transfer.scale_backbone_updates(tx, head, config.transfer.backbone_lr_scale)
        return tx

    def init_state(self):
        config, card = self.config, self.card
        example_x, example_y = self.dataset.splits["train"].take(np.arange(1))
        example_x = self.step.inputs(example_x)
        variables = init_variables(self.model, example_x, config.run.seed, **self.call_kwargs(example_y))
        head = tuple(card.head)
        if config.transfer.freeze_backbone or config.transfer.backbone_lr_scale != 1.0 or (
                config.transfer.pretrained and head):
            transfer.check_head(card.name, head, variables["params"])
        if config.transfer.pretrained:  # a fresh head under a pretrained backbone; a headless card: every weight
            variables = transfer.with_pretrained(card.name, config.transfer.pretrained, variables, head)
        if config.text.embeddings:
            variables, self.embedding_coverage = transfer.with_word_vectors(variables, config.text.embeddings,
                                                                            self.dataset.codec, config.run.seed)
        if self.lora is not None:
            lora_key = jax.random.fold_in(jax.random.key(config.run.seed), LORA_SEED_STREAM)
            variables = {**variables, "params": with_adapters(variables["params"], self.lora, lora_key)}
        return jax.device_get(create_train_state(self.model, self.step.tx, example_x, config.run.seed,
                                                 variables=variables, trainable=self.trainable))

    # --- what the loop calls -------------------------------------------------------------------------------------
    def train_step(self, state, batch, axis_name=None):
        return self.step.train(state, batch, axis_name)

    def eval_step(self, state, batch, axis_name=None):
        return self.step.eval(state, batch, axis_name)

    def result_model(self):
        return self.model

    def summary_extras(self) -> dict[str, Any]:
        extras = {} if self.embedding_coverage is None else {"embedding_coverage": self.embedding_coverage}
        if self.lora is not None:
            extras["lora"] = {"rank": self.lora.rank, "alpha": self.lora.alpha, "targets": list(self.lora.targets)}
        return extras

    def result_state(self, state):
        """With LoRA, the state a user applies: the adapters merged into the weights (the workdir keeps them
        apart: checkpoints, and adapters.safetensors on their own)."""
        if self.lora is None:
            return state
        net = state.network()
        return state.with_network("model", net.replace(params=jax.device_get(self.step.model_params(net.params))))

    def write_outputs(self, workdir, state) -> None:
        if self.lora is None:
            return
        from zoo.layers.lora_files import save_adapters

        save_adapters(Path(workdir) / ADAPTERS_FILE, split_adapters(jax.device_get(state.network().params))[1],
                      self.lora)


def _matrices(params):
    # Weight matrices and kernels only: biases are not penalised (the SVM's convention).
    return jax.tree.map(lambda p: p.ndim > 1, params)

