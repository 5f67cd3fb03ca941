"""Agreement on numeric scores.

Mean absolute and root mean squared difference (by scikit-learn), Pearson's and Spearman's
correlation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ._validate import numeric_pairs


def _error(x: NDArray[np.float64], y: NDArray[np.float64], *, root: bool) -> float:
    """MAE (or RMSE with ``root``) of non-empty arrays, computed by scikit-learn."""
    # Lazy: sklearn is slow to import, and importing llm_grader.agreement must stay fast.
    from sklearn import config_context
    from sklearn.metrics import mean_absolute_error, root_mean_squared_error

    metric = root_mean_squared_error if root else mean_absolute_error
    # sklearn rejects an infinite value; plain arithmetic (and so this function) gives inf.
    with config_context(assume_finite=True):
        return float(metric(x, y))


def mae(a: Sequence[float | None], b: Sequence[float | None]) -> float:
    """Mean absolute difference between two sequences of numbers.

    Computed by :func:`sklearn.metrics.mean_absolute_error`. Pairs with a missing side (None
    or NaN) are dropped. NaN when no pair is left.

    Raises:
        ValueError: lengths differ, or a value is not a number.
    """
    x, y = numeric_pairs(a, b)
    if x.size == 0:
        return math.nan
    return _error(x, y, root=False)


def rmse(a: Sequence[float | None], b: Sequence[float | None]) -> float:
    """Root mean squared difference between two sequences of numbers.

    Computed by :func:`sklearn.metrics.root_mean_squared_error`. Pairs with a missing side
    (None or NaN) are dropped. NaN when no pair is left.

    Raises:
        ValueError: lengths differ, or a value is not a number.
    """
    x, y = numeric_pairs(a, b)
    if x.size == 0:
        return math.nan
    return _error(x, y, root=True)


def _correlation(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    # Constant input is tested exactly: the float residue of x − mean(x) is not zero variance.
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    with np.errstate(all="ignore"):
        dx, dy = x - x.mean(), y - y.mean()
        r = float((dx * dy).sum() / math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum())))
    if not math.isfinite(r):
        return math.nan
    return max(-1.0, min(1.0, r))


def pearson(a: Sequence[float | None], b: Sequence[float | None]) -> float:
    """Pearson's correlation coefficient between two sequences of numbers.

    Pairs with a missing side (None or NaN) are dropped. NaN when fewer than two pairs are
    left, when either side is constant (zero variance), or when a value is infinite.

    Raises:
        ValueError: lengths differ, or a value is not a number.
    """
    x, y = numeric_pairs(a, b)
    return _correlation(x, y)


def _ranks(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks, ties sharing their mean rank (as :func:`scipy.stats.rankdata`)."""
    order = np.argsort(x, kind="mergesort")
    _, first, counts = np.unique(x[order], return_index=True, return_counts=True)
    ranks: NDArray[np.float64] = np.empty(x.size)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return ranks


def spearman(a: Sequence[float | None], b: Sequence[float | None]) -> float:
    """Spearman's rank correlation: Pearson's on the ranks, ties given their mean rank.

    Pairs with a missing side (None or NaN) are dropped. NaN when fewer than two pairs are
    left or when either side is constant.

    Raises:
        ValueError: lengths differ, or a value is not a number.
    """
    x, y = numeric_pairs(a, b)
    if x.size < 2:
        return math.nan
    return _correlation(_ranks(x), _ranks(y))
