"""`train_and_evaluate(config, workdir)`: the one training loop behind the CLI, notebooks and tests."""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

import zoo
from train import report, transfer
from train.augment import ImageInputs, augmentation_of
from train.checkpoint import Checkpointer
from train.config import TrainConfig
from train.data import eval_batches, load_dataset, steps_per_epoch, train_batches
from train.data.sources import Dataset, subset
from train.metrics import classification_metrics, regression_metrics
from train.optim import make_optimizer
from train.parallel import PmapParallel, check_divisible, make_parallel
from train.state import TrainState, create_train_state, init_variables
from train.steps import make_supervised_steps
from zoo.errors import ZooError


class NonFiniteLossError(ZooError, FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclasses.dataclass
class TrainResult:
    summary: dict[str, Any]
    state: TrainState  # final state, on host; state.variables is what model.apply takes
    model: Any  # the flax module, for model.apply(state.variables, x) or zoo.vision.extract_features


def _fresh_record() -> dict[str, Any]:
    return {"step": 0, "history": [], "best_val_loss": None, "bad_epochs": 0,
            "epoch_sums": {}, "stop_reason": None}


_VOCAB_FIELDS = ("vocab_size", "src_vocab_size", "tgt_vocab_size")


def build_model(config: TrainConfig, dataset: Dataset):
    card = zoo.model_card(config.model)
    if card.task != dataset.task:
        raise ZooError(f"{config.model} is a {card.task} model but {dataset.name} is a {dataset.task} data set; "
                       f"pick a {card.task} data set, e.g. --data {card.default_dataset}")
    fields = {f.name for f in dataclasses.fields(card.builder)}
    graph_model, graph_data = card.input_dtype == "graph", dataset.graph_level is not None
    if graph_model != graph_data:
        if graph_model:
            raise ZooError(f"{config.model} is a graph network but {dataset.name} holds no graphs; pick a graph data "
                           "set: graph_atlas (graphs), karate (nodes) or les_miserables_links (links)")
        raise ZooError(f"{dataset.name} is a graph data set; pick a graph model: {', '.join(zoo.list_models('graph'))}")
    head = {}
    if graph_data and "level" in fields:  # one network, three heads: per node, per graph, per pair
        head["level"] = dataset.graph_level
    if card.task == "classification":
        head["num_classes"] = dataset.num_classes
    elif card.task == "regression":
        head["num_outputs"] = dataset.num_targets
    codec = getattr(dataset, "codec", None)
    if card.input_dtype == "int32" and codec is None:
        raise ZooError(f"{config.model} reads token ids but {dataset.name} is not a text data set; pick one with a "
                       f"vocabulary, e.g. --data {card.default_dataset}, csv:PATH or text:PATH")
    if codec is not None:  # the embedding and output tables are sized by the data's vocabulary
        head.update({f: len(codec.vocab) for f in _VOCAB_FIELDS if f in fields})
    if config.freeze_embeddings or config.embeddings:
        if "embed_dim" not in fields:
            raise ZooError(f"{config.model} has no word-embedding table; --embeddings and --freeze-embeddings "
                           "apply to token models (zoo.list_models('sequence'))")
        head["freeze_embeddings"] = config.freeze_embeddings
    if "in_features" in fields:
        head["in_features"] = int(np.prod(dataset.input_shape))
    if config.parallel == "pmap" and "bn_axis_name" in fields:
        # Under pmap each device holds a slice, so BatchNorm must average its batch statistics
        # across devices to match the global batch; under jit the arrays are global already.
        head["bn_axis_name"] = PmapParallel.axis_name
    return zoo.create(config.model, **{**head, **dict(config.model_overrides)})


def image_inputs(config: TrainConfig, card, dataset: Dataset) -> ImageInputs:
    """The step's deterministic input transforms; pretrained weights get what they were trained on."""
    channels = config.channels
    grey = len(dataset.input_shape) == 2 or (len(dataset.input_shape) == 3 and dataset.input_shape[-1] == 1)
    if config.pretrained and not channels and grey:
        channels = 3  # pretrained stems expect RGB: repeat the grey channel
    normalize = config.normalize
    if normalize == "auto":
        normalize = "card" if config.pretrained else "none"
    if normalize == "card":
        pre = card.preprocessing
        mean, std = (tuple(pre["mean"]), tuple(pre["std"])) if "mean" in pre else ((), ())
    elif normalize == "none":
        mean, std = (), ()
    elif isinstance(normalize, (tuple, list)) and len(normalize) == 2:
        mean, std = (tuple(map(float, part)) for part in normalize)
    else:
        raise ValueError(f"normalize must be 'auto', 'card', 'none' or ((mean, ...), (std, ...)), got {normalize!r}")
    return ImageInputs(image_size=config.image_size, channels=channels, mean=mean, std=std)


class _Trainer:
    """One run's moving parts; `train_and_evaluate` is its only caller."""

    def __init__(self, config: TrainConfig, workdir: Path, devices):
        self.config, self.workdir = config, workdir
        self.main = jax.process_index() == 0
        card = zoo.model_card(config.model)
        self.card = card
        self.dataset = load_dataset(config.dataset or card.default_dataset, data_dir=config.data_dir,
                                    validation_fraction=config.validation_fraction, seed=config.seed,
                                    text=config.text_options())
        for split, limit in (("train", config.limit_train), ("test", config.limit_test)):
            if limit:  # quick runs: the first N examples
                source = self.dataset.splits[split]
                self.dataset.splits[split] = subset(source, np.arange(min(limit, len(source))))
        self.parallel = make_parallel(config.parallel, devices)
        check_divisible(config.batch_size, self.parallel.num_devices)
        self.eval_batch_size = config.eval_batch_size or config.batch_size * max(1, 1024 // config.batch_size)
        check_divisible(self.eval_batch_size, self.parallel.num_devices, "eval batch size")

        self.model = build_model(config, self.dataset)
        train = self.dataset.splits["train"]
        self.steps_per_epoch = steps_per_epoch(len(train), config.batch_size)
        tx = make_optimizer(config.optim, self.steps_per_epoch * config.epochs)
        transferring = config.freeze_backbone or config.backbone_lr_scale != 1.0
        trainable = tuple(card.head) if config.freeze_backbone else ()
        if config.backbone_lr_scale != 1.0 and not config.freeze_backbone:
            tx = transfer.scale_backbone_updates(tx, tuple(card.head), config.backbone_lr_scale)
        self.graphs = self.dataset.graph_level is not None
        self.steps = make_supervised_steps(self.model, tx, config.loss or card.loss, config.l2,
                                           inputs=image_inputs(config, card, self.dataset),
                                           augmentation=augmentation_of(config), trainable=trainable,
                                           sharded_inputs=self.graphs)
        example_x, example_y = train.take(np.arange(1))
        example_x = self.steps.prepare(example_x)
        variables = init_variables(self.model, example_x, config.seed, example_y)
        if transferring or config.pretrained:
            transfer.check_head(config.model, tuple(card.head), variables["params"])
        if config.pretrained:
            variables = transfer.with_pretrained(config.model, config.pretrained, variables, tuple(card.head))
        if config.embeddings:
            variables, self.embedding_coverage = transfer.with_word_vectors(variables, config.embeddings,
                                                                            self.dataset.codec, config.seed)
        self.template = jax.device_get(create_train_state(self.model, tx, example_x, config.seed,
                                                          variables=variables, trainable=trainable))
        self.train_step = self.parallel.compile_train(self.steps.train)
        self.eval_step = self.parallel.compile_eval(self.steps.eval)

    @property
    def shards(self) -> int:
        """Graph batches come stacked as one shard per device (train.steps.shards); other batches are flat."""
        return self.parallel.num_devices if self.graphs else 1

    def restore_or_start(self, checkpointer: Checkpointer) -> tuple[Any, dict]:
        latest = checkpointer.latest_step()
        if latest is None:
            return self.template, _fresh_record()
        if not self.config.resume:
            raise ZooError(f"{self.workdir} already holds checkpoints (latest at step {latest}); pass --resume to "
                           "continue that run, or choose a new --workdir")
        return checkpointer.restore(self.template)

    def evaluate(self, state, split: str) -> dict[str, Any]:
        source = self.dataset.split(split)
        results, targets = [], []
        for batch in eval_batches(source, self.eval_batch_size, self.shards):
            result = self.parallel.gather(self.eval_step(state, self.parallel.put_batch(batch)))
            keep = batch["mask"] > 0
            results.append({k: v[keep] for k, v in result.items()})
            targets.append(batch["y"][keep])
        if "weight" in results[0]:  # per-token losses: means over real target tokens
            return token_metrics({k: np.concatenate([r[k] for r in results]) for k in results[0]})
        outputs, losses = np.concatenate([r["outputs"] for r in results]), [r["loss"] for r in results]
        targets = np.concatenate(targets)
        metrics = {"loss": float(np.mean(np.concatenate(losses)))}
        if self.steps.regression:
            metrics.update(regression_metrics(outputs, targets))
        else:
            metrics.update(classification_metrics(outputs, targets, self.dataset.num_classes))
        return metrics


def token_metrics(sums: dict[str, np.ndarray]) -> dict[str, float]:
    """Cross-entropy per real target token, its perplexity, and token accuracy."""
    tokens = float(sums["weight"].sum())
    loss = float(sums["loss"].sum()) / tokens
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "accuracy": float(sums["correct"].sum()) / tokens,
            "tokens": tokens}


def _add_sums(sums: dict[str, float], metrics: list[dict], first_step: int) -> None:
    for offset, m in enumerate(metrics):
        values = {k: float(v) for k, v in m.items()}
        if not all(math.isfinite(v) for v in values.values()):
            raise NonFiniteLossError(
                f"training loss became {values.get('loss')} at step {first_step + offset}. Nothing was saved after "
                "the last finite step, so the last good checkpoint is intact. Lower --lr, add --clip-norm 1.0, "
                "or check the data for NaN/inf values."
            )
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v
        sums["batches"] = sums.get("batches", 0) + 1


def train_and_evaluate(config: TrainConfig, workdir: str | Path, *, devices=None) -> TrainResult:
    """Train `config.model`, evaluate on the test split, write the workdir's reports.

    Resumable: with `config.resume`, continues the exact trajectory of the last
    checkpoint in `workdir` (params, optimizer, rng, data position, history).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t = _Trainer(config, workdir, devices)
    if t.main:
        report.write_config(workdir, dataclasses.asdict(config))
        if getattr(t.dataset, "codec", None) is not None:  # generation and prediction decode with it
            t.dataset.codec.save(workdir / "codec.json")
    checkpointer = Checkpointer(workdir / "checkpoints", keep=config.keep_checkpoints)
    host_state, record = t.restore_or_start(checkpointer)
    state = t.parallel.put_state(host_state)
    log = report.RunLog(workdir, record["history"], enabled=t.main)
    spe, step = t.steps_per_epoch, int(record["step"])
    started, first_step = time.perf_counter(), step

    def checkpoint(sums):
        record.update(step=step, epoch_sums=dict(sums))
        checkpointer.save(step, t.parallel.get_state(state), record)

    try:
        for epoch in range(step // spe, config.epochs):
            if record["stop_reason"]:
                break
            sums = dict(record["epoch_sums"]) if step % spe else {}
            pending: list = []
            bar = tqdm(total=spe, initial=step % spe, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                       disable=not (config.progress and t.main))
            for batch in train_batches(t.dataset.splits["train"], config.batch_size, config.seed, epoch, step % spe,
                                       t.shards):
                state, metrics = t.train_step(state, t.parallel.put_batch(batch))
                step += 1
                pending.append(metrics)
                bar.update()
                end_of_epoch = step % spe == 0
                save_now = bool(config.checkpoint_every) and step % config.checkpoint_every == 0 and not end_of_epoch
                # Sync with the device only every log_every steps, and always before a save so
                # the checkpoint's running sums include every step it has taken.
                if len(pending) >= config.log_every or end_of_epoch or save_now:
                    fetched = [{k: t.parallel.scalar(v) for k, v in m.items()} for m in pending]
                    _add_sums(sums, fetched, step - len(pending) + 1)
                    pending = []
                    bar.set_postfix(loss=f"{sums['loss'] / sums['batches']:.4f}")
                if save_now:
                    checkpoint(sums)
            bar.close()

            epoch_record = {"epoch": epoch + 1, "step": step}
            epoch_record.update({f"train_{k}": v / sums["batches"] for k, v in sums.items() if k != "batches"})
            if "validation" in t.dataset.splits:
                val = t.evaluate(state, "validation")
                epoch_record.update({f"val_{k}": v for k, v in val.items() if isinstance(v, float)})
                _early_stopping(record, val["loss"], config, epoch + 1)
            record["history"].append(epoch_record)
            log.log_epoch(epoch_record)
            if (epoch + 1) % config.checkpoint_epochs == 0 or epoch + 1 == config.epochs or record["stop_reason"]:
                checkpoint({})
    finally:
        log.close()
        checkpointer.close()

    elapsed = time.perf_counter() - started
    test = t.evaluate(state, "test")
    final_state = t.parallel.get_state(state)  # on the host, once: decoding and the caller both read it
    if t.card.task == "seq2seq":
        test["exact_match"] = exact_match(t.model, final_state.variables, t.dataset.split("test"), t.eval_batch_size)
    summary = {
        "model": config.model,
        "dataset": t.dataset.name,
        "epochs": len(record["history"]),
        "steps": step,
        "test_loss": test["loss"],
        "test_accuracy": test.get("accuracy"),
        **{f"test_{k}": v for k, v in test.items() if k not in ("loss", "accuracy")},
        "stop_reason": record["stop_reason"] or "completed",
        "history": record["history"],
        "parallel": config.parallel,
        "devices": t.parallel.num_devices,
        "processes": jax.process_count(),
        "steps_per_sec_this_session": (step - first_step) / elapsed if step > first_step else None,
        "data": t.dataset.summary(),
        **({"embedding_coverage": t.embedding_coverage} if config.embeddings else {}),
        "config": dataclasses.asdict(config),
    }
    if t.main:
        report.write_summary(workdir, summary)
        if config.plots:
            report.plot_curves(record["history"], workdir / "learning_curves.png")
            if "confusion_matrix" in test:
                report.plot_confusion(test["confusion_matrix"], t.dataset.class_names, workdir / "confusion_matrix.png")
    model = t.model
    if getattr(model, "bn_axis_name", None) is not None:  # usable outside pmap, e.g. model.apply(train=True)
        model = model.clone(bn_axis_name=None)
    return TrainResult(summary=summary, state=final_state, model=model)


def exact_match(model, variables, source, batch_size: int) -> float:
    """Fraction of examples whose greedy decoding equals the target exactly (through <eos>)."""
    from zoo.sequence.decode import exact_matches, greedy_decode

    hits = []
    for batch in eval_batches(source, batch_size):
        decoded = greedy_decode(model, variables, batch["x"], max_length=batch["y"].shape[1] + 1)
        hits.append(np.asarray(exact_matches(decoded.tokens, batch["y"]))[batch["mask"] > 0])
    return float(np.concatenate(hits).mean())


def _early_stopping(record: dict, val_loss: float, config: TrainConfig, epoch: int) -> None:
    best = record["best_val_loss"]
    if best is None or val_loss < best - config.min_delta:
        record["best_val_loss"], record["bad_epochs"] = val_loss, 0
        return
    record["bad_epochs"] += 1
    if config.patience and record["bad_epochs"] >= config.patience:
        record["stop_reason"] = (f"early stopping after epoch {epoch}: validation loss did not improve on "
                                 f"{best:.4f} for {config.patience} epochs")
