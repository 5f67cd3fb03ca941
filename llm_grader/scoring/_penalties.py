"""Group penalties: a deduction that ``applies_to`` items never takes more than they earned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..rubric import Item
from ._scorecard import ItemResult


def apply_group_penalties(items: Sequence[Item], results: Mapping[str, ItemResult]) -> dict[str, ItemResult]:
    """Limit each group deduction to what its group still has, in item order; return new results.

    Several deductions on one group share its pool: the second takes at most what the first
    left. A deduction without ``applies_to`` is unchanged.
    """
    out = dict(results)
    taken: dict[frozenset[str], float] = {}
    for item in items:
        result = out[item.id]
        if item.deduction is None or not item.deduction.applies_to or result.deduction is None:
            continue
        group = frozenset(item.deduction.applies_to)
        pool = sum(out[i].points or 0.0 for i in group) - taken.get(group, 0.0)
        amount = min(result.deduction, max(pool, 0.0))
        taken[group] = taken.get(group, 0.0) + amount
        out[item.id] = result.model_copy(update={"points": -amount})
    return out
