"""Small pieces the tasks compose into their step bodies `(state, batch, axis_name=None)`, which
train.parallel compiles with jit over a Mesh or with pmap: per-step random keys (rng), global sums (reduce),
a frozen backbone (frozen), BatchNorm statistics across devices (batchnorm), auxiliary heads (aux), graph
shards (shards), and the supervised train/eval bodies (supervised)."""
from train.steps.supervised import SupervisedStep

__all__ = ["SupervisedStep"]
