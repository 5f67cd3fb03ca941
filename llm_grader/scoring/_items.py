"""One item's result from its judgement: tier points, deductions, N/A policy, errors."""

from __future__ import annotations

from typing import Any

from ..rubric import Item
from ..types import Judgement, NaPolicy, Usage
from ._scorecard import ItemResult


def na_policy(item: Item, judgement: Judgement | None) -> NaPolicy:
    """How a not-applicable item counts: the judgement's say, else the item's declared policy."""
    if judgement is not None and judgement.na_policy is not None:
        return judgement.na_policy
    if item.not_applicable is not None:
        return item.not_applicable.policy
    return item.applicability.policy if item.applicability is not None else "full"


def item_result(item: Item, category_id: str, judgement: Judgement | None) -> ItemResult:
    """The scorecard entry of one item; a not-applicable item is resolved by its N/A policy.

    No judgement means the item was not graded: unscored, marked for review.
    """
    base: dict[str, Any] = {
        "item_id": item.id,
        "name": item.name,
        "category_id": category_id,
        "judge": item.judge,
        "max_points": item.max_points,
    }
    if judgement is None:
        return ItemResult(**base, error="not graded", needs_review=True)
    base.update(
        needs_review=judgement.needs_review,
        confidence=judgement.confidence,
        evidence=list(judgement.evidence),
        rationale=judgement.rationale,
        flags=dict(judgement.flags),
        measured=judgement.measured,
        usage=judgement.usage,
        audit=judgement.audit,
    )
    if judgement.error is not None:
        return ItemResult(
            **{**base, "needs_review": True}, error=judgement.error, abstained=judgement.abstained
        )
    if judgement.not_applicable:
        full = not item.is_deduction and na_policy(item, judgement) == "full"
        return ItemResult(**base, not_applicable=True, points=item.max_points if full else None)
    if item.deduction is not None:
        d = item.deduction
        nominal = sum(d.points * (d.severe_multiplier if o.severe else 1.0) for o in judgement.occurrences)
        if d.cap is not None:
            nominal = min(nominal, d.cap)
        return ItemResult(**base, occurrences=list(judgement.occurrences), deduction=nominal, points=-nominal)
    return _tiered(item, judgement, base)


def _tiered(item: Item, judgement: Judgement, base: dict[str, Any]) -> ItemResult:
    tier_ids = [t.id for t in item.tiers]
    if judgement.tier not in tier_ids:
        return ItemResult(
            **{**base, "needs_review": True},
            error=f"tier {judgement.tier!r} is not one of {', '.join(tier_ids)}",
        )
    tier = item.tier(judgement.tier)
    occurrences = list(judgement.occurrences) if judgement.occurrences else None
    return ItemResult(
        **base, tier=tier.id, tier_label=tier.display, points=item.tier_points(tier), occurrences=occurrences
    )


def judgement_from_result(item: Item, stored: ItemResult) -> Judgement:
    """The judgement a stored result came from, with the N/A policy of the new rubric."""
    na_policy = None
    if stored.not_applicable and stored.audit.na_source == "applicability" and item.applicability:
        na_policy = item.applicability.policy
    return Judgement(
        item_id=item.id,
        tier=stored.tier,
        occurrences=tuple(stored.occurrences or ()),
        not_applicable=stored.not_applicable,
        na_policy=na_policy,
        flags=stored.flags,
        evidence=tuple(stored.evidence),
        rationale=stored.rationale,
        measured=stored.measured,
        error=stored.error,
        abstained=stored.abstained,
        needs_review=stored.needs_review,
        confidence=stored.confidence,
        usage=Usage(),
        audit=stored.audit,
    )
