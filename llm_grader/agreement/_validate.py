"""Input checking shared by the agreement statistics (package-internal).

Every public function of :mod:`llm_grader.agreement` validates its input here before
computing anything: labels become plain Python values, missing ones (None or a float NaN)
become None, pairs with a missing side are dropped, and bad input raises ValueError with the
offending value quoted.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence

import numpy as np
from numpy.typing import NDArray

ORDER_HINT = "pass labels=[...] from lowest to highest"


def choices(options: Sequence[object]) -> str:
    """The options as a comma-separated list of their reprs, for messages."""
    return ", ".join(repr(v) for v in options)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (bools included, as numbers.Real has them)."""
    return isinstance(value, numbers.Real)


def plain(value: object) -> object:
    """A numpy scalar as the Python scalar it holds, so messages and comparisons read plainly."""
    return value.item() if isinstance(value, np.generic) else value


def values(seq: object, name: str) -> list[Hashable]:
    """The items of ``seq`` as plain Python values; missing ones become None."""
    if isinstance(seq, np.ndarray):
        seq = seq.tolist()
    if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
        raise ValueError(f"{name} must be a sequence of labels, not {type(seq).__name__}")
    out: list[Hashable] = []
    for raw in seq:
        value = plain(raw)
        if _is_missing(value):
            out.append(None)
        elif not isinstance(value, Hashable):
            raise ValueError(f"label {value!r} in {name} is not hashable; labels are strings or numbers")
        else:
            out.append(value)
    return out


def valid_labels(labels: Sequence[Hashable] | None) -> list[Hashable] | None:
    """``labels`` checked (not empty, no missing value, no repeat) as plain values; None stays None."""
    if labels is None:
        return None
    given = values(labels, "labels")
    if not given:
        raise ValueError("labels is empty; pass the categories, or labels=None to use the values seen")
    if any(v is None for v in given):
        raise ValueError("labels cannot contain None or NaN: they mark a missing rating")
    seen: set[Hashable] = set()
    for v in given:
        if v in seen:
            raise ValueError(f"labels contains {v!r} more than once")
        seen.add(v)
    return given


def check_in(ratings: Sequence[Hashable], name: str, labels: list[Hashable] | None) -> None:
    """Raise if a rating (other than a missing one) is not in ``labels``; no check without labels."""
    if labels is None:
        return
    known = set(labels)
    for v in ratings:
        if v is not None and v not in known:
            raise ValueError(f"label {v!r} in {name} is not in labels {labels!r}")


def two_raters(
    a: object, b: object, labels: Sequence[Hashable] | None, names: tuple[str, str] = ("a", "b")
) -> tuple[list[Hashable], list[Hashable], list[Hashable] | None]:
    """Validated pairs with the missing ones dropped, and the validated labels."""
    xs, ys = values(a, names[0]), values(b, names[1])
    if len(xs) != len(ys):
        raise ValueError(f"{names[0]} and {names[1]} have different lengths ({len(xs)} and {len(ys)})")
    given = valid_labels(labels)
    check_in(xs, names[0], given)
    check_in(ys, names[1], given)
    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
    return [x for x, _ in kept], [y for _, y in kept], given


def categories(
    given: list[Hashable] | None, seen: Sequence[Hashable], needs_order: str | None
) -> list[Hashable]:
    """The category list: ``labels`` if given, else the values seen (numbers sorted).

    ``needs_order`` names the option that needs an order (for the message); None when the
    statistic does not depend on one.
    """
    if given is not None:
        return given
    distinct = list(dict.fromkeys(v for v in seen if v is not None))
    if all(is_number(v) for v in distinct):
        return sorted(distinct, key=float)  # type: ignore[arg-type]  # numbers.Real converts to float
    if needs_order is not None:
        raise ValueError(f"{needs_order} needs the order of the categories: {ORDER_HINT}")
    if all(isinstance(v, str) for v in distinct):
        return sorted(distinct, key=str)
    return distinct


def confusion(
    xs: Sequence[Hashable], ys: Sequence[Hashable], cats: Sequence[Hashable]
) -> NDArray[np.float64]:
    """Counts of (x, y) pairs as floats: rows follow ``xs``, columns ``ys``, in ``cats`` order."""
    index = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(cats), len(cats)))
    if xs:
        np.add.at(table, ([index[x] for x in xs], [index[y] for y in ys]), 1.0)
    return table


def _numbers(seq: object, name: str) -> list[float | None]:
    out: list[float | None] = []
    for v in values(seq, name):
        if v is None:
            out.append(None)
        elif not is_number(v):
            raise ValueError(f"value {v!r} in {name} is not a number")
        else:
            out.append(float(v))  # type: ignore[arg-type]  # numbers.Real converts to float
    return out


def numeric_pairs(a: object, b: object) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two validated number sequences as float arrays, pairs with a missing side dropped."""
    xs, ys = _numbers(a, "a"), _numbers(b, "b")
    if len(xs) != len(ys):
        raise ValueError(f"a and b have different lengths ({len(xs)} and {len(ys)})")
    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
    return np.array([x for x, _ in kept], dtype=float), np.array([y for _, y in kept], dtype=float)


def numeric_or_raise(
    xs: Sequence[Hashable], ys: Sequence[Hashable], option: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The labels as float arrays; raise, naming ``option``, when they are not all numbers."""
    if not all(is_number(v) for v in (*xs, *ys)):
        raise ValueError(f"{option} needs the order of the categories: {ORDER_HINT}")
    return np.array(xs, dtype=float), np.array(ys, dtype=float)
