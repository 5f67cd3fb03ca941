"""Krippendorff's alpha: agreement among any number of raters, with missing ratings."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ._validate import categories, check_in, choices, is_number, valid_labels, values

Level = Literal["nominal", "ordinal", "interval"]

_LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval")


def _rater_rows(data: Sequence[Sequence[Hashable]] | NDArray[Any]) -> list[list[Hashable]]:
    """The raters × units data as rows of plain values (None where missing), all one length."""
    raw_rows = data.tolist() if isinstance(data, np.ndarray) else data
    if isinstance(raw_rows, (str, bytes)) or not isinstance(raw_rows, Sequence):
        raise ValueError("data must be a sequence of rows, one per rater (raters × units)")
    rows = [values(row, f"data[{r}]") for r, row in enumerate(raw_rows)]
    for r, row in enumerate(rows):
        if len(row) != len(rows[0]):
            raise ValueError(
                f"data rows have different lengths (row 0 has {len(rows[0])} units, row {r} has {len(row)}); "
                "use None for a unit a rater did not rate"
            )
    return rows


def _unit_counts(rows: list[list[Hashable]], cats: list[Hashable]) -> NDArray[np.float64]:
    """``counts[u, c]``: how many raters put unit ``u`` in category ``c``."""
    index = {c: i for i, c in enumerate(cats)}
    counts = np.zeros((len(rows[0]), len(cats)))
    for row in rows:
        for u, v in enumerate(row):
            if v is not None:
                counts[u, index[v]] += 1.0
    return counts


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
        raise ValueError(f"unknown level {level!r}; valid: {choices(_LEVELS)}")
    rows = _rater_rows(data)
    given = valid_labels(labels)
    for r, row in enumerate(rows):
        check_in(row, f"data[{r}]", given)
    seen = [v for row in rows for v in row if v is not None]
    if not seen:
        return math.nan
    cats = categories(given, seen, None if level == "nominal" else f"level={level!r}")
    counts = _unit_counts(rows, cats)
    m_u = counts.sum(axis=1)
    pairable = m_u >= 2
    if not pairable.any():
        return math.nan
    counts, m_u = counts[pairable], m_u[pairable]
    scaled = counts / (m_u - 1.0)[:, None]
    coincidence = scaled.T @ counts - np.diag(scaled.sum(axis=0))
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
    """The squared distance ``δ²`` between every two categories at the given level."""
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
    if all(is_number(v) for v in cats):
        position = np.array([float(v) for v in cats])  # type: ignore[arg-type]  # numbers.Real converts
    else:
        position = np.arange(k, dtype=np.float64)
    return np.asarray(np.subtract.outer(position, position) ** 2, dtype=np.float64)
