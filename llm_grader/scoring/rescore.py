"""Recompute scorecards from stored item results under a changed rubric, with no model call."""

from __future__ import annotations

from ..errors import RescoreError
from ..rubric import Item, Rubric, item_fingerprint
from ..types import Judgement, Usage
from .scorecard import ItemResult, Scorecard
from .total import score

__all__ = ["rescore"]


def _judgement(item: Item, stored: ItemResult) -> Judgement:
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
        needs_review=stored.needs_review,
        usage=Usage(),
        audit=stored.audit,
    )


def rescore(card: Scorecard, rubric: Rubric) -> Scorecard:
    """Recompute a scorecard from its stored item results under a changed rubric.

    Points, weights, categories, N/A policies and overrides may change; an item whose
    fingerprint (wording, tiers, flags, rule) changed, or that is new, cannot be reused and
    raises :class:`~llm_grader.errors.RescoreError` naming the items.
    """
    stored = {r.item_id: r for r in card.items}
    items = [item for _, item in rubric.items()]
    changed = [
        i.id for i in items if i.id not in stored or stored[i.id].audit.item_hash != item_fingerprint(i)
    ]
    if changed:
        raise RescoreError(
            f"{card.conversation_id}: items changed or new since grading: {', '.join(changed)}; "
            "grade them again",
            items=changed,
        )
    card_out = score(
        rubric,
        [_judgement(item, stored[item.id]) for item in items],
        conversation_id=card.conversation_id,
        model=card.model,
        errors=card.errors,
        metadata=card.metadata,
    )
    return card_out.model_copy(update={"usage": card.usage})
