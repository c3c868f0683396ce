"""Step builders, one per task. Each returns pure bodies `(state, batch, axis_name=None)`
that `train.parallel` compiles with jit over a Mesh or with pmap."""
from train.steps.supervised import SupervisedSteps, make_supervised_steps

__all__ = ["SupervisedSteps", "make_supervised_steps"]
