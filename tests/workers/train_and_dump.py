"""Subprocess worker for the parallel tests: train a small MLP, dump final params as .npz.

usage: python -m tests.workers.train_and_dump OUT.npz MODE [NUM_DEVICES]
                                             [--coordinator ADDR --num-processes N --process-id I]

Run in a fresh process because XLA_FLAGS (emulated device count) and
jax.distributed must be set before JAX starts.
"""
import argparse
import os
import sys

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("mode", choices=("jit", "pmap"))
    p.add_argument("num_devices", type=int, nargs="?")
    p.add_argument("--coordinator")
    p.add_argument("--num-processes", type=int)
    p.add_argument("--process-id", type=int)
    p.add_argument("--init-timeout", type=int, default=120)
    p.add_argument("--workdir", required=True)
    args = p.parse_args()

    import jax
    from train import config_for, train_and_evaluate
    from train.parallel import initialize_distributed

    if args.coordinator:
        initialize_distributed(args.coordinator, args.num_processes, args.process_id, args.init_timeout)
    devices = None
    if args.num_devices:
        devices = (jax.devices() if args.mode == "jit" else jax.local_devices())[: args.num_devices]
    config = config_for("mlp", dataset="digits", epochs=2, batch_size=32, limit_train=512, progress=False,
                        plots=False, model_overrides={"hidden": (64, 32), "dropout": 0.0},
                        optimizer="momentum", lr=0.05, parallel=args.mode)
    result = train_and_evaluate(config, args.workdir, devices=devices)
    leaves = jax.tree_util.tree_flatten_with_path(result.state.params)[0]
    if jax.process_index() == 0:
        np.savez(args.out, **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})
    print("devices", result.summary["devices"], "processes", result.summary["processes"],
          "test_accuracy", result.summary["test_accuracy"], file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    main()
