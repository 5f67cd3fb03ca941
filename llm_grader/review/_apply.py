"""Final scorecards: the reviewers' verdicts applied, the totals recomputed by the scoring rules.

An overridden item takes the reviewer's tier (or N/A); an accepted item keeps its grade. Both
leave review (``needs_review`` false) and carry the verdict in ``audit.review``. The card is
then recomputed by :func:`llm_grader.scoring._rescore` — judgements rebuilt from the stored
item results, scored by :func:`llm_grader.scoring.score` — so categories, N/A policies and
overrides (fatal, zero score, caps) follow the reviewed grades exactly as they would a grader's.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..rubric import Rubric
from ..scoring import ItemResult, Scorecard, rescore
from ..types import NOT_APPLICABLE, ReviewVerdict
from ._review_batch import ReviewError, tier_choices


def _reviewed(result: ItemResult, verdict: ReviewVerdict) -> ItemResult:
    """The stored result as the reviewer left it."""
    audit = result.audit.model_copy(update={"review": verdict})
    if verdict.decision == "accept":
        if result.unscored:
            raise ReviewError(f"item {result.item_id!r} is unscored: an accept verdict has no grade to keep")
        return result.model_copy(update={"needs_review": False, "audit": audit})
    not_applicable = verdict.tier == NOT_APPLICABLE
    return result.model_copy(
        update={
            "tier": None if not_applicable else verdict.tier,
            "not_applicable": not_applicable,
            "error": None,
            "needs_review": False,
            "occurrences": None if not_applicable else result.occurrences,
            "flags": result.flags if verdict.flags is None else dict(verdict.flags),
            # The reviewer decided, not the applicability rule or the model.
            "audit": audit.model_copy(update={"na_source": None}),
        }
    )


def apply_verdicts(card: Scorecard, verdicts: Mapping[str, ReviewVerdict], rubric: Rubric) -> Scorecard:
    """The scorecard with the latest verdict per item (item id → verdict) applied and rescored.

    Raises :class:`~llm_grader.review.ReviewError` for a verdict on an unknown item, an
    override to a tier the item does not have, or an accept of an unscored item; and
    :class:`~llm_grader.errors.RescoreError` when ``rubric`` is not the one the card was graded with.
    """
    known = {r.item_id for r in card.items}
    unknown = sorted(set(verdicts) - known)
    if unknown:
        raise ReviewError(f"{card.conversation_id}: no item {', '.join(map(repr, unknown))} on the scorecard")
    for item_id, verdict in verdicts.items():
        if verdict.decision != "override":
            continue
        allowed = [c for c, _ in tier_choices(rubric.item(item_id))]
        if verdict.tier not in allowed:
            raise ReviewError(
                f"{card.conversation_id}: {item_id}: tier {verdict.tier!r} is not one of {', '.join(allowed)}"
            )
        declared = {f.id for f in rubric.item(item_id).flags}
        extra = sorted(set(verdict.flags or {}) - declared)
        if extra:
            raise ReviewError(
                f"{card.conversation_id}: {item_id}: no flag {', '.join(map(repr, extra))}; "
                f"the item's flags: {', '.join(sorted(declared)) or 'none'}"
            )
    items = [_reviewed(r, verdicts[r.item_id]) if r.item_id in verdicts else r for r in card.items]
    return rescore(card.model_copy(update={"items": items}), rubric)
