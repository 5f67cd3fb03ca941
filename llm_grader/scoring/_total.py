"""From item judgements to a :class:`Scorecard` — pure, no I/O, no model.

Order of computation, per category (:mod:`.categories`): scored items add their tier points
(a not-applicable item adds its full points under policy ``full`` or leaves the category
under ``exclude``); then deductions come off — a group penalty (``applies_to``) never takes
more than the group's items earned (:mod:`.penalties`); the subtotal is clamped to
``[0, category maximum]``. The total is the sum of categories, rescaled to ``max_score``
when items were excluded. Last, overrides (:mod:`.overrides`) fire on the reported facts:
fatal and zero-score set the total to 0, a cap bounds it.

An item that could not be graded is *unscored*: it adds nothing, and it never counts as zero
or full marks. A scorecard with unscored items, or with an override that cannot be decided
yet, is *partial*: ``complete`` is false, ``fatal``/``zero_score`` are ``None`` while an
override of that kind is pending, and ``total_min``/``total_max`` give the range the total
can still take — computed by grading every open item at its worst (lowest tier, every flag
raised, the most a deduction can take) and at its best, under the rubric's own rules. An
item decided by its rule with a flag left undetermined keeps its tier; only the flag varies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..rubric import Category, Item, Rubric
from ..types import Judgement, Occurrence, Usage
from ._categories import CategoryTally, round_points, tally_category
from ._consistency import mark_inconsistent
from ._items import judgement_from_result
from ._overrides import apply_overrides, evaluate_overrides
from ._scorecard import ItemResult, OverrideHit, PendingOverride, Scorecard

_ALL_EXCLUDED = "every item is excluded as not applicable; no total"


@dataclass(frozen=True)
class _Outcome:
    tallies: list[CategoryTally]
    results: list[ItemResult]
    hits: list[OverrideHit]
    pending: list[PendingOverride]
    total: float | None


def _rescaled(rubric: Rubric, tallies: Sequence[CategoryTally]) -> float | None:
    """The sum of categories, rescaled to ``max_score`` when items were excluded."""
    total = sum(t.subtotal for t in tallies)
    if not any(t.excluded for t in tallies):
        return total
    available = sum(t.maximum for t in tallies)
    return total * rubric.max_score / available if available > 0 else None


def _outcome(rubric: Rubric, by_item: Mapping[str, Judgement]) -> _Outcome:
    tallies = [tally_category(category, by_item) for category in rubric.categories]
    results = [r for t in tallies for r in t.results]
    hits, pending = evaluate_overrides(rubric.overrides, {r.item_id: r for r in results})
    total = _rescaled(rubric, tallies)
    if total is not None:
        total = apply_overrides(rubric.overrides, hits, total)
    return _Outcome(tallies, results, hits, pending, total)


def _extreme(item: Item, category: Category, *, worst: bool) -> Judgement:
    """The open item graded at its worst or its best."""
    if item.deduction is None:
        tier = min(item.tiers, key=item.tier_points) if worst else max(item.tiers, key=item.tier_points)
        return Judgement(item_id=item.id, tier=tier.id, flags={f.id: worst for f in item.flags})
    if not worst:
        return Judgement(item_id=item.id)
    # Enough occurrences to take the most the item can: its cap, else the whole category.
    most = item.deduction.cap if item.deduction.cap is not None else category.maximum
    count = max(1, math.ceil(most / item.deduction.points)) if item.deduction.points > 0 else 1
    found = Occurrence(turn=1, speaker="agent", quote="", start_char=0, end_char=0)
    return Judgement(item_id=item.id, occurrences=(found,) * count)


def _open_flags(item: Item, result: ItemResult, *, worst: bool) -> Judgement | None:
    """A graded item open only for undetermined flags: its grade, those flags at an extreme.

    None when it is open for another reason (unscored, evidence unverified).
    """
    missing = [f.id for f in item.flags if f.id not in result.flags]
    if result.audit.decided_by != "rule" or result.unscored or not missing:
        return None
    if any(not e.verified for e in result.evidence):
        return None
    judgement = judgement_from_result(item, result)
    return replace(judgement, flags={**judgement.flags, **dict.fromkeys(missing, worst)})


def _bound(
    rubric: Rubric, stored: Mapping[str, ItemResult], open_ids: set[str], *, worst: bool
) -> float | None:
    judgements = {
        item.id: (_open_flags(item, stored[item.id], worst=worst) or _extreme(item, category, worst=worst))
        if item.id in open_ids
        else judgement_from_result(item, stored[item.id])
        for category in rubric.categories
        for item in category.items
    }
    return _outcome(rubric, judgements).total


def _state(hits: Sequence[OverrideHit], pending: Sequence[PendingOverride], kind: str) -> bool | None:
    if any(h.kind == kind for h in hits):
        return True
    return None if any(p.kind == kind for p in pending) else False


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
    outcome = _outcome(rubric, by_item)
    stored = {r.item_id: r for r in outcome.results}
    open_ids = {r.item_id for r in outcome.results if r.unscored} | {
        i for p in outcome.pending for i in p.blocking
    }
    low = high = None
    if open_ids:
        low = _bound(rubric, stored, open_ids, worst=True)
        high = _bound(rubric, stored, open_ids, worst=False)
    total = outcome.total
    return Scorecard(
        conversation_id=conversation_id,
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        model=model,
        total_score=None if total is None else round_points(total),
        max_score=rubric.max_score,
        fatal=_state(outcome.hits, outcome.pending, "fatal"),
        zero_score=_state(outcome.hits, outcome.pending, "zero_score"),
        overrides=outcome.hits,
        pending_overrides=outcome.pending,
        items=mark_inconsistent(rubric, outcome.results),
        categories=[t.score for t in outcome.tallies],
        complete=not open_ids,
        unscored_points=round_points(sum(t.unscored_points for t in outcome.tallies)),
        total_min=None if low is None else round_points(low),
        total_max=None if high is None else round_points(high),
        usage=sum((r.usage for r in outcome.results), Usage()),
        errors=[*errors, *([_ALL_EXCLUDED] if total is None else [])],
        metadata=dict(metadata or {}),
    )
