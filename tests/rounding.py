"""Comparing float32 results that XLA may compute in a different order.

Another batch size, device count or compiled program (eager against jit, a whole sequence against one step
at a time, a batch against one example) can make XLA's CPU kernels add the same terms in another order, so
float32 results agree only up to rounding. Each rounded addition is off by at most eps = 2**-23 of its
result, and an error made early on is carried along, so a result that took n roundings at scale s is off by
at most about n * eps * s (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., section 4.2).

`assert_equal_up_to_rounding` asserts that bound, absolute, at the scale of the largest expected entry. It is
absolute on purpose: an entry that is small because large terms cancelled (a saliency of 2e-4 in a map whose
largest entry is 1e-2) carries their rounding error, so no relative tolerance fits it. A real defect (padding
that leaks, examples that mix, a wrong gradient) moves results by a sizeable fraction of that scale, which
stays far above the bound.

Comparisons whose point is bitwise equality (a resumed run, the same seed twice, the same program on the same
inputs) keep `assert_array_equal`.
"""
from __future__ import annotations

import numpy as np

EPS = float(np.finfo(np.float32).eps)  # 2**-23 ~ 1.19e-7: the largest relative rounding error of one operation


def tolerance(terms: int, scale: float) -> float:
    """The absolute error bound of a float32 result that took `terms` roundings at `scale`."""
    return terms * EPS * scale


def assert_equal_up_to_rounding(actual, desired, *, terms: int, scale: float | None = None) -> None:
    """`actual` equals `desired` within `terms` float32 roundings at the scale of `desired`'s largest entry.

    `terms`: roundings that feed one entry along its longest path, e.g. for a network the summed lengths of
    its dot products, layer after layer (and step after step in a recurrence). `scale` defaults to
    max |desired|."""
    desired = np.asarray(desired, np.float64)
    actual = np.asarray(actual, np.float64)
    scale = float(np.abs(desired).max()) if scale is None else scale
    np.testing.assert_allclose(actual, desired, rtol=0, atol=tolerance(terms, scale),
                               err_msg=f"more than {terms} float32 roundings apart at scale {scale:.3g}")
