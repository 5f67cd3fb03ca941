"""Agreement between raters — pure functions, shaped like scikit-learn's metrics.

Conventions shared by every function here:

- **Two raters** are two sequences ``a`` and ``b`` of the same length, one label per item
  (a ``str`` or a number). A pair where either side is missing (``None`` or a float NaN) is
  dropped before anything is computed; the other statistics never see it.
- **labels** fixes the category set and, where a statistic needs one (weighted kappa,
  ``tolerance``, ordinal alpha), the *order* of the categories from lowest to highest. Pass it:
  tiers such as ``["poor", "fair", "good"]`` are not in alphabetical order, and a category
  neither rater used still counts (in Gwet's AC1, in the tier steps of ``tolerance``). Without
  ``labels`` the categories are the values seen; numbers are then ordered numerically, and
  strings have no order, so a statistic that needs one raises.
- **Undefined is NaN, never an exception**: a statistic that has no value on the data (no
  pairs left, no variation to measure agreement against) returns ``math.nan``; each function
  says when. Callers report the number of items next to it.
- **Bad input raises ValueError** before any computation, with the offending value quoted and
  the valid choices listed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BinaryMetrics",
    "binary_metrics",
    "cohen_kappa",
    "confusion_matrix",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "mae",
    "pearson",
    "percent_agreement",
    "rmse",
    "spearman",
]

Weights = Literal["linear", "quadratic"]
Level = Literal["nominal", "ordinal", "interval"]

_WEIGHTS: tuple[Weights | None, ...] = (None, "linear", "quadratic")
_LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval")
_ORDER_HINT = "pass labels=[...] from lowest to highest"


# ----------------------------------------------------------------------------- validation


def _choices(values: Sequence[object]) -> str:
    return ", ".join(repr(v) for v in values)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real)


def _plain(value: object) -> object:
    """A numpy scalar as the Python scalar it holds, so messages and comparisons read plainly."""
    return value.item() if isinstance(value, np.generic) else value


def _values(seq: object, name: str) -> list[Hashable]:
    """The items of ``seq`` as plain Python values; missing ones become None."""
    if isinstance(seq, np.ndarray):
        seq = seq.tolist()
    if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
        raise ValueError(f"{name} must be a sequence of labels, not {type(seq).__name__}")
    out: list[Hashable] = []
    for raw in seq:
        value = _plain(raw)
        if _is_missing(value):
            out.append(None)
        elif not isinstance(value, Hashable):
            raise ValueError(f"label {value!r} in {name} is not hashable; labels are strings or numbers")
        else:
            out.append(value)
    return out


def _labels(labels: Sequence[Hashable] | None) -> list[Hashable] | None:
    if labels is None:
        return None
    values = _values(labels, "labels")
    if not values:
        raise ValueError("labels is empty; pass the categories, or labels=None to use the values seen")
    if any(v is None for v in values):
        raise ValueError("labels cannot contain None or NaN: they mark a missing rating")
    seen: set[Hashable] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"labels contains {v!r} more than once")
        seen.add(v)
    return values


def _check_in(values: Sequence[Hashable], name: str, labels: list[Hashable] | None) -> None:
    if labels is None:
        return
    known = set(labels)
    for v in values:
        if v is not None and v not in known:
            raise ValueError(f"label {v!r} in {name} is not in labels {labels!r}")


def _two_raters(
    a: object, b: object, labels: Sequence[Hashable] | None, names: tuple[str, str] = ("a", "b")
) -> tuple[list[Hashable], list[Hashable], list[Hashable] | None]:
    """Validated pairs with the missing ones dropped, and the validated labels."""
    xs, ys = _values(a, names[0]), _values(b, names[1])
    if len(xs) != len(ys):
        raise ValueError(f"{names[0]} and {names[1]} have different lengths ({len(xs)} and {len(ys)})")
    given = _labels(labels)
    _check_in(xs, names[0], given)
    _check_in(ys, names[1], given)
    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
    return [x for x, _ in kept], [y for _, y in kept], given


def _categories(
    given: list[Hashable] | None, seen: Sequence[Hashable], needs_order: str | None
) -> list[Hashable]:
    """The category list: ``labels`` if given, else the values seen (numbers sorted).

    ``needs_order`` names the option that needs an order (for the message); None when the
    statistic does not depend on one.
    """
    if given is not None:
        return given
    distinct = list(dict.fromkeys(v for v in seen if v is not None))
    if all(_is_number(v) for v in distinct):
        return sorted(distinct, key=float)  # type: ignore[arg-type]  # numbers.Real converts to float
    if needs_order is not None:
        raise ValueError(f"{needs_order} needs the order of the categories: {_ORDER_HINT}")
    if all(isinstance(v, str) for v in distinct):
        return sorted(distinct, key=str)
    return distinct


def _confusion(
    xs: Sequence[Hashable], ys: Sequence[Hashable], cats: Sequence[Hashable]
) -> NDArray[np.float64]:
    index = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(cats), len(cats)))
    if xs:
        np.add.at(table, ([index[x] for x in xs], [index[y] for y in ys]), 1.0)
    return table


def _numbers(seq: object, name: str) -> list[float | None]:
    out: list[float | None] = []
    for v in _values(seq, name):
        if v is None:
            out.append(None)
        elif not _is_number(v):
            raise ValueError(f"value {v!r} in {name} is not a number")
        else:
            out.append(float(v))  # type: ignore[arg-type]  # numbers.Real converts to float
    return out


def _numeric_pairs(a: object, b: object) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    xs, ys = _numbers(a, "a"), _numbers(b, "b")
    if len(xs) != len(ys):
        raise ValueError(f"a and b have different lengths ({len(xs)} and {len(ys)})")
    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
    return np.array([x for x, _ in kept], dtype=float), np.array([y for _, y in kept], dtype=float)


# ----------------------------------------------------------------------------- two raters


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
        raise ValueError(f"unknown weights {weights!r}; valid: {_choices(_WEIGHTS)}")
    xs, ys, given = _two_raters(a, b, labels)
    if not xs:
        return math.nan
    cats = _categories(given, [*xs, *ys], None if weights is None else f"weights={weights!r}")
    observed = _confusion(xs, ys, cats)
    n = observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))  # n times the expected matrix
    i, j = np.indices(observed.shape)
    # Scaling by 1/(k-1) cancels in the ratio, so the integer steps are used as they are.
    if weights is None:
        w = (i != j).astype(float)
    elif weights == "linear":
        w = np.abs(i - j).astype(float)
    else:
        w = ((i - j) ** 2).astype(float)
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
    xs, ys, given = _two_raters(a, b, labels)
    if not xs:
        return math.nan
    cats = _categories(given, [*xs, *ys], None)
    q = len(cats)
    if q < 2:
        return math.nan
    observed = _confusion(xs, ys, cats)
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
    xs, ys, given = _two_raters(a, b, labels)
    if not xs:
        return math.nan
    if tolerance == 0:
        return sum(x == y for x, y in zip(xs, ys, strict=True)) / len(xs)
    if given is not None:
        position = {c: i for i, c in enumerate(given)}
        distances = [abs(position[x] - position[y]) for x, y in zip(xs, ys, strict=True)]
        return sum(d <= tolerance for d in distances) / len(xs)
    x, y = _numeric_or_raise(xs, ys, f"tolerance={tolerance!r}")
    return float(np.mean(np.abs(x - y) <= tolerance))


def _numeric_or_raise(
    xs: Sequence[Hashable], ys: Sequence[Hashable], option: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if not all(_is_number(v) for v in (*xs, *ys)):
        raise ValueError(f"{option} needs the order of the categories: {_ORDER_HINT}")
    return np.array(xs, dtype=float), np.array(ys, dtype=float)


def confusion_matrix(
    a: Sequence[Hashable], b: Sequence[Hashable], *, labels: Sequence[Hashable]
) -> list[list[int]]:
    """Counts of (``a``'s label, ``b``'s label) pairs: rows follow ``a``, columns ``b``.

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
    xs, ys, given = _two_raters(a, b, labels)
    assert given is not None
    table = _confusion(xs, ys, given)
    return [[int(v) for v in row] for row in table]


# ----------------------------------------------------------------------------- many raters


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
        line: list[int] = []
        for j, raw in enumerate(row):
            v = _plain(raw)
            if isinstance(v, bool) or not _is_number(v) or not float(v).is_integer():  # type: ignore[arg-type]
                raise ValueError(f"table[{i}][{j}] is {v!r}, not a whole count")
            if float(v) < 0:  # type: ignore[arg-type]
                raise ValueError(f"table[{i}][{j}] is {v!r}; a count cannot be negative")
            line.append(int(v))  # type: ignore[call-overload]
        if counts and sum(line) != sum(counts[0]):
            raise ValueError(
                f"every subject needs the same number of raters: row 0 has {sum(counts[0])}, "
                f"row {i} has {sum(line)}"
            )
        counts.append(line)
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


def krippendorff_alpha(
    data: Sequence[Sequence[Hashable]] | NDArray[Any],
    *,
    level: Level = "nominal",
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Krippendorff's alpha for any number of raters, with missing ratings (Krippendorff 2011).

    ``α = 1 − D_o / D_e`` computed from the coincidence matrix ``o``: a unit with ``m_u ≥ 2``
    values adds each ordered pair of values from different raters with weight
    ``1 / (m_u − 1)``; a unit with fewer than two values is not pairable and is left out.
    With ``n_c`` the row sums of ``o`` and ``n`` their total,
    ``α = 1 − (n − 1) · Σ o_ck δ²_ck / Σ n_c n_k δ²_ck``, where the squared distance ``δ²``
    depends on ``level``:

    - ``"nominal"``: 0 for equal labels, 1 otherwise. Labels may be strings.
    - ``"ordinal"``: ``(Σ_{g=c..k} n_g − (n_c + n_k) / 2)²`` over the categories from ``c`` to
      ``k`` in order — ``labels`` gives the order; numbers without ``labels`` are ordered
      numerically.
    - ``"interval"``: ``(c − k)²`` on the numeric values; string labels are placed at their
      positions 0, 1, 2, … in ``labels`` (equally spaced tiers).

    Args:
        data: Raters × units: ``data[r][u]`` is rater ``r``'s label for unit ``u``; None or
            NaN where the rater did not rate the unit.
        level: The level of measurement: ``"nominal"``, ``"ordinal"`` or ``"interval"``.
        labels: The categories, lowest to highest. Needed for ordinal and interval data
            whose labels are strings.

    Returns:
        Alpha, at most 1. NaN when no unit has two values (nothing is pairable), or when all
        pairable values are the same (no expected disagreement).

    Raises:
        ValueError: unknown ``level``, rows of different lengths, a label outside ``labels``,
            or ordinal/interval string labels without ``labels``.
    """
    if level not in _LEVELS:
        raise ValueError(f"unknown level {level!r}; valid: {_choices(_LEVELS)}")
    raw_rows = data.tolist() if isinstance(data, np.ndarray) else data
    if isinstance(raw_rows, (str, bytes)) or not isinstance(raw_rows, Sequence):
        raise ValueError("data must be a sequence of rows, one per rater (raters × units)")
    rows = [_values(row, f"data[{r}]") for r, row in enumerate(raw_rows)]
    for r, row in enumerate(rows):
        if len(row) != len(rows[0]):
            raise ValueError(
                f"data rows have different lengths (row 0 has {len(rows[0])} units, row {r} has {len(row)}); "
                "use None for a unit a rater did not rate"
            )
    given = _labels(labels)
    for r, row in enumerate(rows):
        _check_in(row, f"data[{r}]", given)
    seen = [v for row in rows for v in row if v is not None]
    if not seen:
        return math.nan
    cats = _categories(given, seen, None if level == "nominal" else f"level={level!r}")
    index = {c: i for i, c in enumerate(cats)}
    units = len(rows[0])
    k = len(cats)

    # values[u, c]: how many raters put unit u in category c.
    values = np.zeros((units, k))
    for row in rows:
        for u, v in enumerate(row):
            if v is not None:
                values[u, index[v]] += 1.0
    m_u = values.sum(axis=1)
    pairable = m_u >= 2
    if not pairable.any():
        return math.nan
    values, m_u = values[pairable], m_u[pairable]
    scaled = values / (m_u - 1.0)[:, None]
    coincidence = scaled.T @ values - np.diag(scaled.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = float(n_c.sum())
    if np.count_nonzero(n_c) <= 1:
        return math.nan

    delta2 = _delta2(level, cats, n_c)
    observed = float((coincidence * delta2).sum())
    expected = float((np.outer(n_c, n_c) * delta2).sum())
    if expected == 0.0:
        return math.nan
    return 1.0 - (n - 1.0) * observed / expected


def _delta2(level: Level, cats: list[Hashable], n_c: NDArray[np.float64]) -> NDArray[np.float64]:
    k = len(cats)
    c, g = np.indices((k, k))
    if level == "nominal":
        return np.asarray(c != g, dtype=np.float64)
    if level == "ordinal":
        # Σ_{g=c..k} n_g = cum[k] − cum[c] + n_c for c ≤ k; symmetric.
        cum = np.cumsum(n_c)
        lo, hi = np.minimum(c, g), np.maximum(c, g)
        between = cum[hi] - cum[lo] + n_c[lo]
        return np.asarray((between - (n_c[lo] + n_c[hi]) / 2.0) ** 2, dtype=np.float64)
    if all(_is_number(v) for v in cats):
        position = np.array([float(v) for v in cats])  # type: ignore[arg-type]  # numbers.Real converts
    else:
        position = np.arange(k, dtype=np.float64)
    return np.asarray(np.subtract.outer(position, position) ** 2, dtype=np.float64)


# ----------------------------------------------------------------------------- binary outcome


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


def binary_metrics(
    truth: Sequence[int | bool | None], predicted: Sequence[int | bool | None]
) -> BinaryMetrics:
    """Precision, recall and F1 of ``predicted`` against ``truth``, labels 0/1 (or False/True).

    The same numbers as :func:`sklearn.metrics.precision_recall_fscore_support` with
    ``average="binary"`` and ``zero_division=np.nan``.

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
    xs, ys, _ = _two_raters(truth, predicted, [0, 1], names=("truth", "predicted"))
    tp = sum(1 for x, y in zip(xs, ys, strict=True) if x == 1 and y == 1)
    fp = sum(1 for x, y in zip(xs, ys, strict=True) if x == 0 and y == 1)
    fn = sum(1 for x, y in zip(xs, ys, strict=True) if x == 1 and y == 0)
    tn = len(xs) - tp - fp - fn
    return BinaryMetrics(
        precision=tp / (tp + fp) if tp + fp else math.nan,
        recall=tp / (tp + fn) if tp + fn else math.nan,
        f1=2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan,
        support=tp + fn,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
    )


# ----------------------------------------------------------------------------- numeric scores


def mae(a: Sequence[float | None], b: Sequence[float | None]) -> float:
    """Mean absolute difference between two sequences of numbers.

    Pairs with a missing side (None or NaN) are dropped. NaN when no pair is left.

    Raises:
        ValueError: lengths differ, or a value is not a number.
    """
    x, y = _numeric_pairs(a, b)
    if x.size == 0:
        return math.nan
    return float(np.mean(np.abs(x - y)))


def rmse(a: Sequence[float | None], b: Sequence[float | None]) -> float:
    """Root mean squared difference between two sequences of numbers.

    Pairs with a missing side (None or NaN) are dropped. NaN when no pair is left.

    Raises:
        ValueError: lengths differ, or a value is not a number.
    """
    x, y = _numeric_pairs(a, b)
    if x.size == 0:
        return math.nan
    return float(np.sqrt(np.mean((x - y) ** 2)))


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
    x, y = _numeric_pairs(a, b)
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
    x, y = _numeric_pairs(a, b)
    if x.size < 2:
        return math.nan
    return _correlation(_ranks(x), _ranks(y))
