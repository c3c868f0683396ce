"""zoo-train with the tests' two-network task registered: python -m tests.workers.train_toy_gan [zoo-train args]."""
import sys

import tests.toy_gan  # noqa: F401  (registers mixture_gan, gaussian_ring and the toy_gan task)
from train.cli.train import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
