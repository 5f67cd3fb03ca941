"""From item judgements to a :class:`Scorecard` — pure, no I/O, no model.

Order of computation, per category (:mod:`.categories`): scored items add their tier points
(a not-applicable item adds its full points under policy ``full`` or leaves the category
under ``exclude``); then deductions come off — a group penalty (``applies_to``) never takes
more than the group's items earned (:mod:`.penalties`); the subtotal is clamped to
``[0, category maximum]``. The total is the sum of categories, rescaled to ``max_score``
when items were excluded. Last, overrides (:mod:`.overrides`) fire on the reported facts:
fatal and zero-score set the total to 0, a cap bounds it.

An item that could not be graded is *unscored*: it adds nothing, the scorecard is marked
incomplete and ``unscored_points`` says how many points were at stake. It never counts as
zero or full marks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..rubric import Rubric
from ..types import Judgement, Usage
from .categories import CategoryTally, round_points, tally_category
from .overrides import apply_overrides, fired_overrides
from .scorecard import Scorecard

__all__ = ["score"]

_ALL_EXCLUDED = "every item is excluded as not applicable; no total"


def _rescaled(rubric: Rubric, tallies: Sequence[CategoryTally]) -> float | None:
    """The sum of categories, rescaled to ``max_score`` when items were excluded."""
    total = sum(t.subtotal for t in tallies)
    if not any(t.excluded for t in tallies):
        return total
    available = sum(t.maximum for t in tallies)
    return total * rubric.max_score / available if available > 0 else None


def score(
    rubric: Rubric,
    judgements: Mapping[str, Judgement] | Sequence[Judgement],
    *,
    conversation_id: str,
    model: str | None = None,
    errors: Sequence[str] = (),
    metadata: Mapping[str, Any] | None = None,
) -> Scorecard:
    """Compute the scorecard of one conversation from its items' judgements.

    Items with no judgement are unscored ("not graded"). Pure: same input, same output.
    """
    by_item = judgements if isinstance(judgements, Mapping) else {j.item_id: j for j in judgements}
    tallies = [tally_category(category, by_item) for category in rubric.categories]
    results = [r for t in tallies for r in t.results]
    hits = fired_overrides(rubric.overrides, {r.item_id: r for r in results})
    total = _rescaled(rubric, tallies)
    if total is not None:
        total = apply_overrides(rubric.overrides, hits, total)
    return Scorecard(
        conversation_id=conversation_id,
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        model=model,
        total_score=None if total is None else round_points(total),
        max_score=rubric.max_score,
        fatal=any(h.kind == "fatal" for h in hits),
        zero_score=any(h.kind == "zero_score" for h in hits),
        overrides=hits,
        items=results,
        categories=[t.score for t in tallies],
        complete=not any(r.unscored for r in results),
        unscored_points=round_points(sum(t.unscored_points for t in tallies)),
        usage=sum((r.usage for r in results), Usage()),
        errors=[*errors, *([_ALL_EXCLUDED] if total is None else [])],
        metadata=dict(metadata or {}),
    )
