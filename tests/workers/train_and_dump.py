"""Subprocess worker for the parallel tests: train a small model, dump final params (and model state) as .npz.

usage: python -m tests.workers.train_and_dump OUT_DIR RUN [RUN ...]
           [--model mlp|resnet18|tiny_aux_bn|char_gru|transformer_seq2seq|mpnn]
           [--coordinator ADDR --num-processes N --process-id I]

RUN is [MODEL/]MODE[:NUM_DEVICES]: MODE jit or pmap, on every device or the first NUM_DEVICES, MODEL that of
--model unless given. Each run trains from scratch in OUT_DIR/NAME/ and writes OUT_DIR/NAME.npz, NAME being RUN
with '/' and ':' written as '-'. Several runs share one process: JAX starts once.

--model resnet18: a two-stage ResNet-18 (BatchNorm) on digits resized to 16x16 on the device;
--model tiny_aux_bn: a conv + BatchNorm net with a sown auxiliary head (GoogLeNet's convention);
--model char_gru: a character GRU language model (per-token losses) on a small generated text file;
--model transformer_seq2seq: a one-block encoder-decoder Transformer with dropout on the 'reverse' strings;
--model mpnn: a message-passing network classifying graphs of the networkx atlas (graph batches).

Run in a fresh process because XLA_FLAGS (emulated device count) and
jax.distributed must be set before JAX starts.
"""
import argparse
import os
import sys

import numpy as np

RUNS = {  # name -> (model, training settings)
    "mlp": ("mlp", dict(model_overrides={"hidden": (64, 32), "dropout": 0.0}, epochs=2, limit_train=512)),
    # Random draws: the same dropout masks and crops for the global batch under every layout (train.steps.rng).
    "mlp_dropout": ("mlp", dict(model_overrides={"hidden": (64, 32), "dropout": 0.2}, epochs=2, batch_size=64,
                                optimizer="adam", lr=1e-3, seed=1)),
    "cnn_small_augmented": ("cnn_small", dict(crop_padding=2, flip=True, epochs=1, limit_train=512, batch_size=64,
                                              optimizer="adam", lr=1e-3, seed=1)),
    # Two networks, two optimizers, noise drawn in the step (tests/toy_gan.py).
    "mixture_gan": ("mixture_gan", dict(dataset="gaussian_ring", epochs=2, batch_size=64, optimizer="adam",
                                        lr=1e-3, limit_train=1024)),
    "resnet18": ("resnet18", dict(model_overrides={"stage_sizes": (1, 1)}, image_size=16, epochs=1, limit_train=128,
                                  lr=0.01, eval_batch_size=256)),
    "tiny_aux_bn": ("tiny_aux_bn", dict(epochs=1, limit_train=512, eval_batch_size=256)),
    "char_gru": ("char_gru", dict(model_overrides={"hidden_size": 32, "embed_dim": 16}, epochs=1, seq_len=16,
                                  eval_batch_size=64, lr=0.5)),
    # Teacher-forced seq2seq with dropout (embeddings, sublayers, attention weights): per-token losses and
    # attention-shaped dropout masks [B, H, T, T] drawn for the global batch. Momentum, not Adam: an attention
    # key bias has a true gradient of 0 (softmax ignores a shift shared by all keys), and Adam would scale its
    # rounding noise, which differs between layouts, up to lr-sized steps (2.6e-4 apart after 8 steps).
    "transformer_seq2seq": ("transformer_seq2seq", dict(
        dataset="reverse", model_overrides={"d_model": 16, "num_heads": 2, "num_layers": 1, "mlp_dim": 32,
                                            "max_len": 16, "dropout": 0.1, "attention_dropout": 0.1},
        epochs=1, limit_train=256, limit_test=64, eval_batch_size=64)),
    # Graph batches travel as one shard of whole graphs per device (train.steps.shards).
    "mpnn": ("mpnn", dict(dataset="graph_atlas_connected", model_overrides={"hidden": 16, "steps": 2}, epochs=1,
                          limit_train=64, eval_batch_size=64)),
}


def write_corpus(workdir: str) -> str:
    """A small deterministic text whose lines differ, so windows differ."""
    import pathlib

    rng = np.random.default_rng(0)
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "runs"]
    text = "\n".join(" ".join(rng.choice(words, 8)) for _ in range(300))
    path = pathlib.Path(workdir).parent / "corpus.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def register_tiny_aux_bn() -> None:
    """A small BatchNorm net that sows auxiliary logits in train mode, as GoogLeNet does."""
    import flax.linen as nn

    from zoo.layers.examples import float_inputs
    from zoo.registry import Reference, register_model
    from zoo.vision.common import as_images, batch_norm

    class TinyAuxBN(nn.Module):
        num_classes: int = 10
        bn_axis_name: str | None = None

        @nn.compact
        def __call__(self, x, *, train: bool = False):
            x = nn.relu(nn.Conv(8, (3, 3), name="conv")(as_images(x, "tiny_aux_bn")))
            x = nn.relu(batch_norm(train, name="bn", axis_name=self.bn_axis_name)(x))  # [B, H, W, 8]
            aux = nn.Dense(self.num_classes, name="aux_fc")(x.reshape(x.shape[0], -1))
            if train:
                self.sow("aux_outputs", "logits", aux)
            return nn.Dense(self.num_classes, name="fc")(x.mean(axis=(1, 2)))

    register_model("tiny_aux_bn", TinyAuxBN, family="test", task="classification", loss="softmax_cross_entropy",
                   default_dataset="digits", input_spec="images", example_input_shape=(8, 8), example=float_inputs,
                   reference=Reference("test_accuracy", 0.0, "digits", "none: a test model"), head=("fc", "aux_fc"),
                   data_fields={"num_classes": "num_classes"}, aux_loss_weight=0.3)


def run_name(run: str) -> str:
    return run.replace("/", "-").replace(":", "-")


def parse_run(run: str, default_model: str) -> tuple[str, str, str]:
    """(model, mode, device count or '') of RUN."""
    model, _, rest = run.rpartition("/")
    mode, _, count = rest.partition(":")
    return model or default_model, mode, count


def train_and_dump(run: str, out_dir: str, default_name: str) -> None:
    import jax
    from train import config_for, train_and_evaluate

    name, mode, count = parse_run(run, default_name)
    model, run_settings = RUNS[name]
    devices = None
    if count:
        devices = (jax.devices() if mode == "jit" else jax.local_devices())[: int(count)]
    workdir = os.path.join(out_dir, run_name(run))
    dataset = f"text:{write_corpus(workdir)}" if model == "char_gru" else "digits"
    settings = {"dataset": dataset, "batch_size": 32, "optimizer": "momentum", "lr": 0.05, **run_settings}
    config = config_for(model, progress=False, plots=False, parallel=mode, **settings)
    result = train_and_evaluate(config, workdir, devices=devices)
    leaves = jax.tree_util.tree_flatten_with_path(result.state.networks)[0]  # every network's params and state
    if jax.process_index() == 0:
        np.savez(workdir + ".npz", **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})
    print(run, "devices", result.summary["devices"], "processes", result.summary["processes"],
          "test_accuracy", result.summary["test_accuracy"], "history", result.summary["history"], file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--coordinator")
    p.add_argument("--num-processes", type=int)
    p.add_argument("--process-id", type=int)
    p.add_argument("--init-timeout", type=int, default=120)
    p.add_argument("--model", choices=tuple(RUNS), default="mlp")
    args = p.parse_args()
    for run in args.runs:
        model, mode, _ = parse_run(run, args.model)
        if mode not in ("jit", "pmap") or model not in RUNS:
            p.error(f"a run is [MODEL/]jit|pmap[:N] with MODEL one of {', '.join(RUNS)}, got {run!r}")

    from train.distributed import initialize_distributed

    if args.coordinator:
        initialize_distributed(args.coordinator, args.num_processes, args.process_id, args.init_timeout)
    if any(parse_run(run, args.model)[0] == "tiny_aux_bn" for run in args.runs):
        register_tiny_aux_bn()
    if any(parse_run(run, args.model)[0] == "mixture_gan" for run in args.runs):
        import tests.toy_gan  # noqa: F401  (registers the model, its data set and its task)
    for run in args.runs:
        train_and_dump(run, args.out_dir, args.model)


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    main()
