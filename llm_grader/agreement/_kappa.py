"""Agreement on categories, chance-corrected and raw.

Two raters: Cohen's kappa, Gwet's AC1, percent agreement and the confusion matrix; many
raters: Fleiss' kappa.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ._validate import categories, choices, confusion, is_number, numeric_or_raise, plain, two_raters

Weights = Literal["linear", "quadratic"]

_WEIGHTS: tuple[Weights | None, ...] = (None, "linear", "quadratic")


# ----------------------------------------------------------------------------- two raters


def _disagreement_weights(k: int, weights: Weights | None) -> NDArray[np.float64]:
    """``w_ij`` over k ordered categories; the 1/(k−1) scale cancels in kappa, so it is left out."""
    i, j = np.indices((k, k))
    if weights is None:
        return np.asarray(i != j, dtype=np.float64)
    if weights == "linear":
        return np.asarray(np.abs(i - j), dtype=np.float64)
    return np.asarray((i - j) ** 2, dtype=np.float64)


def cohen_kappa(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    *,
    weights: Weights | None = None,
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Cohen's kappa between two raters, optionally weighted for ordered categories.

    ``κ = 1 − Σ w·O / Σ w·E``, with ``O`` the observed confusion matrix, ``E`` the one expected
    from the two raters' marginals, and disagreement weights ``w_ij`` = ``[i ≠ j]`` (unweighted),
    ``|i − j| / (k − 1)`` (``"linear"``) or ``((i − j) / (k − 1))²`` (``"quadratic"``), where
    ``i``, ``j`` are positions in the category order. Equal to
    :func:`sklearn.metrics.cohen_kappa_score` with the same ``weights`` and ``labels``.

    Args:
        a: One rater's labels.
        b: The other rater's labels, item for item. Pairs with a missing side are dropped.
        weights: None for nominal categories, or ``"linear"`` / ``"quadratic"`` for tiers.
        labels: The categories, lowest to highest. Needed for weights when the labels are
            strings; numbers without ``labels`` are ordered numerically over the values seen.

    Returns:
        Kappa, at most 1 (0 is chance agreement). NaN when no pair is left, or when the
        expected disagreement is zero — both raters gave every item one and the same label
        (chance agreement is then 1).

    Raises:
        ValueError: unknown ``weights``, lengths differ, a label outside ``labels``, or
            weights on string labels without ``labels``.
    """
    if weights not in _WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; valid: {choices(_WEIGHTS)}")
    xs, ys, given = two_raters(a, b, labels)
    if not xs:
        return math.nan
    cats = categories(given, [*xs, *ys], None if weights is None else f"weights={weights!r}")
    observed = confusion(xs, ys, cats)
    n = observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))  # n times the expected matrix
    w = _disagreement_weights(len(cats), weights)
    disagreement_expected = float((w * expected).sum())
    if disagreement_expected == 0.0:
        return math.nan
    return 1.0 - float(n * (w * observed).sum()) / disagreement_expected


def gwet_ac1(
    a: Sequence[Hashable], b: Sequence[Hashable], *, labels: Sequence[Hashable] | None = None
) -> float:
    """Gwet's AC1 agreement coefficient between two raters (Gwet 2008).

    ``AC1 = (p_a − p_e) / (1 − p_e)`` with ``p_a`` the observed agreement and
    ``p_e = 1/(q − 1) · Σ_k π_k (1 − π_k)``, ``π_k`` the mean of the two raters' shares of
    category ``k`` and ``q`` the number of categories — ``len(labels)`` when given, else the
    number of distinct labels seen. Unlike kappa it stays high when one category dominates
    and the raters agree on it.

    Args:
        a: One rater's labels.
        b: The other rater's labels, item for item. Pairs with a missing side are dropped.
        labels: The categories. Categories neither rater used still count in ``q``.

    Returns:
        AC1, at most 1. NaN when no pair is left, or when there is a single category (``q`` is
        1: no ``labels`` and both raters used one and the same label).

    Raises:
        ValueError: lengths differ, or a label is outside ``labels``.
    """
    xs, ys, given = two_raters(a, b, labels)
    if not xs:
        return math.nan
    cats = categories(given, [*xs, *ys], None)
    q = len(cats)
    if q < 2:
        return math.nan
    observed = confusion(xs, ys, cats)
    n = float(observed.sum())
    p_a = float(np.trace(observed)) / n
    pi = (observed.sum(axis=1) + observed.sum(axis=0)) / (2.0 * n)
    p_e = float((pi * (1.0 - pi)).sum()) / (q - 1)  # at most 1/q, so never 1
    return (p_a - p_e) / (1.0 - p_e)


def percent_agreement(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    *,
    tolerance: int = 0,
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Share of items on which two raters agree, exactly or within ``tolerance`` tier steps.

    With ``labels``, the distance between two labels is the number of steps between their
    positions in ``labels`` (``"poor"`` and ``"good"`` are 2 apart in
    ``["poor", "fair", "good"]``). Without ``labels``, numbers are their own scale: the
    distance is ``|a − b|``.

    Args:
        a: One rater's labels.
        b: The other rater's labels, item for item. Pairs with a missing side are dropped.
        tolerance: The largest distance that still counts as agreement; 0 is exact agreement.
        labels: The categories, lowest to highest. Needed for ``tolerance > 0`` unless the
            labels are numbers.

    Returns:
        The share in [0, 1]; NaN when no pair is left.

    Raises:
        ValueError: negative or non-integer ``tolerance``, lengths differ, a label outside
            ``labels``, or ``tolerance > 0`` on string labels without ``labels``.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Integral) or tolerance < 0:
        raise ValueError(f"tolerance must be a whole number of tier steps, 0 or more; got {tolerance!r}")
    xs, ys, given = two_raters(a, b, labels)
    if not xs:
        return math.nan
    if tolerance == 0:
        return sum(x == y for x, y in zip(xs, ys, strict=True)) / len(xs)
    if given is not None:
        position = {c: i for i, c in enumerate(given)}
        distances = [abs(position[x] - position[y]) for x, y in zip(xs, ys, strict=True)]
        return sum(d <= tolerance for d in distances) / len(xs)
    x, y = numeric_or_raise(xs, ys, f"tolerance={tolerance!r}")
    return float(np.mean(np.abs(x - y) <= tolerance))


def confusion_matrix(
    a: Sequence[Hashable], b: Sequence[Hashable], *, labels: Sequence[Hashable]
) -> list[list[int]]:
    """Counts of (``a``'s label, ``b``'s label) pairs: rows follow ``a``, columns ``b``.

    Computed by :func:`sklearn.metrics.confusion_matrix` on the positions of the labels in
    ``labels``, so any hashable labels (strings, numbers, a mix) work.

    Args:
        a: One rater's labels; they index the rows.
        b: The other rater's labels; they index the columns. Pairs with a missing side are
            dropped.
        labels: The categories, in the order of the rows and columns.

    Returns:
        A ``len(labels)`` × ``len(labels)`` matrix; all zeros when no pair is left.

    Raises:
        ValueError: lengths differ, or a label is outside ``labels``.
    """
    xs, ys, given = two_raters(a, b, labels)
    assert given is not None
    k = len(given)
    if not xs:  # sklearn refuses an empty input
        return [[0] * k for _ in range(k)]
    if k == 1:  # sklearn warns on a 1 × 1 matrix; every pair is on its diagonal
        return [[len(xs)]]
    # Lazy: sklearn is slow to import, and importing llm_grader.agreement must stay fast.
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    index = {c: i for i, c in enumerate(given)}
    table = sk_confusion_matrix([index[x] for x in xs], [index[y] for y in ys], labels=list(range(k)))
    return [[int(v) for v in row] for row in table]


# ----------------------------------------------------------------------------- many raters


def _count(i: int, j: int, raw: object) -> int:
    v = plain(raw)
    if isinstance(v, bool) or not is_number(v) or not float(v).is_integer():  # type: ignore[arg-type]
        raise ValueError(f"table[{i}][{j}] is {v!r}, not a whole count")
    if float(v) < 0:  # type: ignore[arg-type]
        raise ValueError(f"table[{i}][{j}] is {v!r}; a count cannot be negative")
    return int(v)  # type: ignore[call-overload,no-any-return]  # a whole number, checked above


def _count_table(table: Sequence[Sequence[int]] | NDArray[Any]) -> list[list[int]]:
    """The table validated: rows of equal length, whole non-negative counts, equal row sums."""
    rows = table.tolist() if isinstance(table, np.ndarray) else table
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise ValueError("table must be a sequence of rows of counts (subjects × categories)")
    counts: list[list[int]] = []
    for i, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
            raise ValueError(f"table[{i}] must be a row of counts (subjects × categories), got {row!r}")
        if counts and len(row) != len(counts[0]):
            raise ValueError(
                f"table rows have different lengths (row 0 has {len(counts[0])} categories, "
                f"row {i} has {len(row)})"
            )
        line = [_count(i, j, raw) for j, raw in enumerate(row)]
        if counts and sum(line) != sum(counts[0]):
            raise ValueError(
                f"every subject needs the same number of raters: row 0 has {sum(counts[0])}, "
                f"row {i} has {sum(line)}"
            )
        counts.append(line)
    return counts


def fleiss_kappa(table: Sequence[Sequence[int]] | NDArray[Any]) -> float:
    """Fleiss' kappa (Fleiss 1971) for many raters from a subjects × categories count table.

    ``table[i][j]`` is the number of raters who put subject ``i`` in category ``j``; every
    subject must have the same number ``n`` of raters. ``κ = (P̄ − P̄e) / (1 − P̄e)`` with
    ``P̄`` the mean over subjects of ``P_i = (Σ_j n_ij² − n) / (n (n − 1))`` and
    ``P̄e = Σ_j p_j²``, ``p_j`` the share of all ratings in category ``j``.

    Args:
        table: Non-negative whole counts, one row per subject, one column per category.

    Returns:
        Kappa, at most 1. NaN when there are no subjects, fewer than two raters per subject,
        or every rating is in one and the same category (``P̄e`` is 1).

    Raises:
        ValueError: rows of different lengths, a count that is negative or not whole, or
            subjects with different numbers of raters.
    """
    counts = _count_table(table)
    if not counts:
        return math.nan
    m = np.array(counts, dtype=float)
    n = float(m[0].sum())
    if n < 2:
        return math.nan
    totals = m.sum(axis=0)
    if np.count_nonzero(totals) <= 1:
        return math.nan
    p_i = ((m**2).sum(axis=1) - n) / (n * (n - 1))
    p_bar = float(p_i.mean())
    p_j = totals / totals.sum()
    p_e = float((p_j**2).sum())
    return (p_bar - p_e) / (1.0 - p_e)
