"""Precision, recall and F1 of a yes/no prediction against the truth (scikit-learn's numbers)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._validate import two_raters


@dataclass(frozen=True, kw_only=True)
class BinaryMetrics:
    """Precision, recall and F1 of a yes/no prediction against the truth (1 is positive)."""

    precision: float
    """``tp / (tp + fp)``; NaN when nothing was predicted positive."""
    recall: float
    """``tp / (tp + fn)``; NaN when nothing is truly positive."""
    f1: float
    """``2 tp / (2 tp + fp + fn)``; NaN when there are no positives on either side."""
    support: int
    """Number of truly positive items (``tp + fn``)."""
    tp: int
    fp: int
    fn: int
    tn: int


_NO_PAIR = BinaryMetrics(precision=math.nan, recall=math.nan, f1=math.nan, support=0, tp=0, fp=0, fn=0, tn=0)


def binary_metrics(
    truth: Sequence[int | bool | None], predicted: Sequence[int | bool | None]
) -> BinaryMetrics:
    """Precision, recall and F1 of ``predicted`` against ``truth``, labels 0/1 (or False/True).

    Computed by :func:`sklearn.metrics.precision_recall_fscore_support` with
    ``average="binary"`` and ``zero_division=np.nan``, the counts by
    :func:`sklearn.metrics.confusion_matrix`.

    Args:
        truth: The true labels, 1 for positive.
        predicted: The predicted labels, item for item. Pairs with a missing side are dropped.

    Returns:
        The metrics and the four counts. ``precision`` is NaN when nothing was predicted
        positive, ``recall`` when nothing is truly positive, ``f1`` when neither side has a
        positive (this includes no pair left).

    Raises:
        ValueError: lengths differ, or a label that is not 0 or 1.
    """
    xs, ys, _ = two_raters(truth, predicted, [0, 1], names=("truth", "predicted"))
    if not xs:  # sklearn refuses an empty input
        return _NO_PAIR
    # Lazy: sklearn is slow to import, and importing llm_grader.agreement must stay fast.
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = [int(x) for x in xs]  # type: ignore[call-overload]  # validated: 0, 1, False or True
    y_pred = [int(y) for y in ys]  # type: ignore[call-overload]
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel())
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, pos_label=1, average="binary", zero_division=np.nan
    )
    return BinaryMetrics(
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        support=tp + fn,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
    )
