"""Subprocess worker for tests/test_sharded_params.py: train a tiny GPT for 3 steps on one device and on
('data', 'model') meshes with FSDP, and dump each run's final state and the shards its devices held.

usage: python -m tests.workers.train_sharded OUT_DIR LAYOUT [LAYOUT ...]

LAYOUT is `1` (one device, the default replicated strategy) or DATAxMODEL (e.g. 4x2: every device, --mesh 4x2
--fsdp). Each run writes OUT_DIR/LAYOUT.npz (every network's params and optimizer state by key path) and, for
meshes, OUT_DIR/LAYOUT.json: {key path: {"shape", "spec", "shards": [each device's shard shape]}} of the state
the compiled train step returned. Run in a fresh process with XLA_FLAGS=--xla_force_host_platform_device_count=8.
"""
import json
import os
import sys

import numpy as np

# gpt_nano cut down to 2 layers of width 32 (4 heads, MLP 128), context 16, on a character corpus; momentum
# rather than Adam, whose normalisation would blow the rounding noise of the attention key bias (true gradient 0)
# up to lr-sized steps (see tests/workers/train_and_dump.py). 24 windows at batch 8: 3 steps.
SETTINGS = dict(model_overrides={"hidden_size": 32, "num_layers": 2, "num_heads": 4, "max_positions": 16},
                seq_len=16, batch_size=8, eval_batch_size=8, epochs=1, limit_train=24, limit_test=8,
                optimizer="momentum", lr=0.05, warmup_steps=0, schedule="constant", clip_norm=0.0,
                weight_decay=0.0, validation_fraction=0.0)


def write_corpus(out_dir: str) -> str:
    """Text over 64 distinct characters, so the vocabulary splits evenly over 'model'."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?-' "[:63]
    rng = np.random.default_rng(0)
    lines = ["".join(rng.choice(list(alphabet), 40)) for _ in range(60)]
    path = os.path.join(out_dir, "corpus.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines))  # 63 characters and the newline
    return path


def shard_record(state) -> dict:
    import jax

    record = {}
    for path, x in jax.tree_util.tree_flatten_with_path(state)[0]:
        record[jax.tree_util.keystr(path)] = {
            "shape": list(x.shape), "spec": [a if a is None or isinstance(a, str) else list(a) for a in x.sharding.spec],
            "shards": [list(s.data.shape) for s in x.addressable_shards]}
    return record


def main() -> None:
    out_dir, layouts = sys.argv[1], sys.argv[2:]
    import jax

    from train import config_for, train_and_evaluate
    from train.parallel import MeshParallel

    seen = []
    original = MeshParallel.get_state

    def recording(self, state):  # the loop fetches the state the compiled step returned: note its shards
        if self.shards_state:
            seen.append(shard_record(state.networks))
        return original(self, state)

    MeshParallel.get_state = recording
    corpus = write_corpus(out_dir)
    for layout in layouts:
        sharded = layout != "1"
        config = config_for("gpt_nano", dataset=f"text:{corpus}", progress=False, plots=False,
                            mesh=layout if sharded else "", fsdp=sharded, **SETTINGS)
        seen.clear()
        result = train_and_evaluate(config, os.path.join(out_dir, layout),
                                    devices=None if sharded else jax.devices()[:1])
        leaves = jax.tree_util.tree_flatten_with_path(result.state.networks)[0]
        np.savez(os.path.join(out_dir, f"{layout}.npz"),
                 **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})
        if sharded:
            with open(os.path.join(out_dir, f"{layout}.json"), "w") as f:
                json.dump(seen[-1], f)
        print(layout, "steps", result.summary["steps"], "devices", result.summary["devices"], file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    main()
