"""Recompute scorecards from stored item results under a changed rubric, with no model call."""

from __future__ import annotations

from ..errors import RescoreError
from ..rubric import Rubric, item_fingerprint
from ._items import judgement_from_result
from ._scorecard import Scorecard
from ._total import score


def rescore(card: Scorecard, rubric: Rubric) -> Scorecard:
    """Recompute a scorecard from its stored item results under a changed rubric.

    Points, weights, categories, N/A policies and overrides may change; an item whose
    fingerprint (wording, tiers, flags, rule) changed, or that is new, cannot be reused and
    raises :class:`~llm_grader.errors.RescoreError` naming the items.
    """
    if card.rubric_id != rubric.id:
        raise RescoreError(
            f"{card.conversation_id}: graded with rubric {card.rubric_id!r}, not {rubric.id!r}; "
            f"rescore with a version of {card.rubric_id!r} (-r)",
            items=[],
        )
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
        [judgement_from_result(item, stored[item.id]) for item in items],
        conversation_id=card.conversation_id,
        model=card.model,
        errors=card.errors,
        metadata=card.metadata,
    )
    return card_out.model_copy(update={"usage": card.usage})
