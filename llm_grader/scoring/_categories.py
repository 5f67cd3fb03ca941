"""A category's subtotal: base score plus tier points, less deductions, clamped to its maximum."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..rubric import Category
from ..types import Judgement
from ._items import item_result
from ._penalties import apply_group_penalties
from ._scorecard import CategoryScore, ItemResult


@dataclass(frozen=True, kw_only=True)
class CategoryTally:
    """What one category contributes to the total."""

    score: CategoryScore
    results: tuple[ItemResult, ...]
    """The category's item results, in rubric order."""
    subtotal: float
    """The clamped subtotal (unrounded)."""
    maximum: float
    """The category's maximum after excluded items are taken out."""
    excluded: bool
    """Whether a not-applicable item was left out (the total is then rescaled)."""
    unscored_points: float


def _excluded(result: ItemResult) -> bool:
    return result.not_applicable and result.points is None and result.max_points > 0


def tally_category(category: Category, judgements: Mapping[str, Judgement]) -> CategoryTally:
    """Score one category's items, apply its group penalties and clamp the subtotal."""
    first = {item.id: item_result(item, category.id, judgements.get(item.id)) for item in category.items}
    results = apply_group_penalties(category.items, first)
    ordered = tuple(results[item.id] for item in category.items)
    base = category.base_score or 0.0
    subtotal = base + sum(r.points for r in ordered if r.points is not None)
    excluded = [r for r in ordered if _excluded(r)]
    maximum = category.maximum
    if excluded:
        counted = sum(r.max_points for r in ordered if not _excluded(r))
        maximum = min(maximum, base + counted)
    clamped = min(max(subtotal, 0.0), maximum)
    unscored = [r for r in ordered if r.unscored]
    return CategoryTally(
        score=CategoryScore(
            id=category.id,
            name=category.name,
            score=round_points(clamped),
            max_points=round_points(maximum),
            unscored_items=[r.item_id for r in unscored],
        ),
        results=ordered,
        subtotal=clamped,
        maximum=maximum,
        excluded=bool(excluded),
        unscored_points=sum(r.max_points for r in unscored),
    )


def round_points(value: float) -> float:
    """Points as written on the card: 4 decimals, never ``-0.0``."""
    return round(value, 4) + 0.0  # + 0.0 turns -0.0 into 0.0
