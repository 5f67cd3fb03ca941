"""From item judgements to a :class:`Scorecard` — pure, no I/O, no model.

Order of computation, per category: scored items add their tier points (a not-applicable
item adds its full points under policy ``full`` or leaves the category under ``exclude``);
then deductions come off — a group penalty (``applies_to``) never takes more than the
group's items earned; the subtotal is clamped to ``[0, category maximum]``. The total is the
sum of categories, rescaled to ``max_score`` when items were excluded. Last, overrides fire
on the reported facts: fatal and zero-score set the total to 0, a cap bounds it.

An item that could not be graded is *unscored*: it adds nothing, the scorecard is marked
incomplete and ``unscored_points`` says how many points were at stake. It never counts as
zero or full marks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .rubric import Condition, Item, Override, Rubric
from .types import Audit, Evidence, Judgement, Occurrence, Usage

__all__ = [
    "CategoryScore",
    "Evidence",
    "ItemResult",
    "Judgement",
    "Occurrence",
    "OverrideHit",
    "Scorecard",
    "Usage",
    "rescore",
    "score",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ItemResult(_Out):
    """One item on the scorecard."""

    item_id: str
    name: str
    category_id: str
    judge: Literal["model", "rule"]
    tier: str | None = None
    """Tier id; None when unscored, not applicable or a deduction item."""
    tier_label: str | None = None
    points: float | None = None
    """Points earned (negative for a deduction); None when unscored or excluded."""
    max_points: float
    """Most the item can add (0 for a deduction item)."""
    not_applicable: bool = False
    evidence: list[Evidence] = Field(default_factory=list)
    rationale: str = ""
    flags: dict[str, bool] = Field(default_factory=dict)
    needs_review: bool = False
    error: str | None = None
    occurrences: list[Occurrence] | None = None
    """Occurrences of a deduction item (None for scored items)."""
    deduction: float | None = None
    """Deduction before a group penalty's limit (deduction items)."""
    measured: float | None = None
    usage: Usage = Field(default_factory=Usage)
    audit: Audit = Field(default_factory=Audit)

    @property
    def unscored(self) -> bool:
        """Whether the item could not be graded."""
        return self.error is not None


class OverrideHit(_Out):
    """An override that fired, with what fired it."""

    id: str
    kind: Literal["fatal", "zero_score", "cap"]
    reason: str
    items: list[str]
    """Items whose facts fired it."""
    evidence: list[Evidence] = Field(default_factory=list)


class CategoryScore(_Out):
    """A category's subtotal."""

    id: str
    name: str
    score: float
    max_points: float
    """The category's maximum after excluded items are taken out."""
    unscored_items: list[str] = Field(default_factory=list)


class Scorecard(_Out):
    """The grade of one conversation (one JSON object per line in results)."""

    conversation_id: str
    rubric_id: str
    rubric_version: str
    model: str | None = None
    total_score: float | None
    """The total after rescaling and overrides; None only when no item could count."""
    max_score: float
    fatal: bool = False
    zero_score: bool = False
    overrides: list[OverrideHit] = Field(default_factory=list)
    items: list[ItemResult]
    categories: list[CategoryScore] = Field(default_factory=list)
    complete: bool = True
    """False when any item is unscored: the total then counts only the graded items."""
    unscored_points: float = 0.0
    """Maximum points of the unscored items (the total could be this much higher)."""
    usage: Usage = Field(default_factory=Usage)
    errors: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def item(self, item_id: str) -> ItemResult:
        """The result for one item (raises KeyError)."""
        for result in self.items:
            if result.item_id == item_id:
                return result
        raise KeyError(item_id)


# --------------------------------------------------------------------------- conditions

_ConditionFn = Callable[[Condition, ItemResult], bool]

CONDITIONS: dict[str, _ConditionFn] = {
    "flag": lambda c, r: bool(r.flags.get(c.flag or "")),
    "tier": lambda c, r: r.tier is not None and r.tier in (c.tier or []),
    "min_occurrences": lambda c, r: len(r.occurrences or []) >= (c.min_occurrences or 0),
}
"""How each kind of override condition is tested on a graded item."""


def _fires(override: Override, results: Mapping[str, ItemResult]) -> OverrideHit | None:
    evidence: list[Evidence] = []
    for condition in override.when:
        result = results.get(condition.item)
        if result is None or result.unscored or result.not_applicable:
            return None
        if not CONDITIONS[condition.kind](condition, result):
            return None
        evidence.extend(
            result.occurrences
            if condition.kind == "min_occurrences" and result.occurrences
            else result.evidence
        )
    return OverrideHit(
        id=override.id,
        kind=override.kind,
        reason=override.reason,
        items=[c.item for c in override.when],
        evidence=evidence,
    )


# --------------------------------------------------------------------------- scoring


def _result(item: Item, category_id: str, judgement: Judgement | None) -> ItemResult:
    base: dict[str, Any] = {
        "item_id": item.id,
        "name": item.name,
        "category_id": category_id,
        "judge": item.judge,
        "max_points": item.max_points,
    }
    if judgement is None:
        return ItemResult(**base, error="not graded", needs_review=True)
    base["needs_review"] = judgement.needs_review
    base.update(
        evidence=list(judgement.evidence),
        rationale=judgement.rationale,
        flags=dict(judgement.flags),
        measured=judgement.measured,
        usage=judgement.usage,
        audit=judgement.audit,
    )
    if judgement.error is not None:
        return ItemResult(**{**base, "needs_review": True}, error=judgement.error)
    if judgement.not_applicable:
        return ItemResult(**base, not_applicable=True)
    if item.is_deduction:
        assert item.deduction is not None
        d = item.deduction
        nominal = sum(d.points * (d.severe_multiplier if o.severe else 1.0) for o in judgement.occurrences)
        if d.cap is not None:
            nominal = min(nominal, d.cap)
        return ItemResult(**base, occurrences=list(judgement.occurrences), deduction=nominal, points=-nominal)
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


def _na_policy(item: Item, judgement: Judgement | None) -> str:
    if judgement is not None and judgement.na_policy is not None:
        return judgement.na_policy
    if item.not_applicable is not None:
        return item.not_applicable.policy
    return item.applicability.policy if item.applicability is not None else "full"


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
    if not isinstance(judgements, Mapping):
        judgements = {j.item_id: j for j in judgements}
    results: list[ItemResult] = []
    by_id: dict[str, ItemResult] = {}
    categories: list[CategoryScore] = []
    total_raw = 0.0
    available = 0.0
    unscored_points = 0.0
    excluded_any = False
    for category in rubric.categories:
        subtotal = category.base_score or 0.0
        scored_max = 0.0
        excluded = 0.0
        unscored: list[str] = []
        cat_results: dict[str, ItemResult] = {}
        for item in category.items:
            judgement = judgements.get(item.id)
            result = _result(item, category.id, judgement)
            if result.not_applicable and not item.is_deduction:
                if _na_policy(item, judgement) == "full":
                    result = result.model_copy(update={"points": item.max_points})
                else:
                    excluded += item.max_points
            if result.unscored:
                unscored.append(item.id)
                unscored_points += item.max_points
            if not item.is_deduction:
                if result.points is not None:
                    subtotal += result.points
                if not (result.not_applicable and result.points is None):
                    scored_max += item.max_points
            cat_results[item.id] = result
        taken: dict[frozenset[str], float] = {}
        for item in category.items:
            result = cat_results[item.id]
            if not item.is_deduction or result.deduction is None:
                continue
            assert item.deduction is not None
            amount = result.deduction
            if item.deduction.applies_to:
                group = frozenset(item.deduction.applies_to)
                pool = sum(cat_results[i].points or 0.0 for i in group) - taken.get(group, 0.0)
                amount = min(amount, max(pool, 0.0))
                taken[group] = taken.get(group, 0.0) + amount
                cat_results[item.id] = result.model_copy(update={"points": -amount})
            subtotal -= amount
        maximum = category.maximum
        if excluded:
            excluded_any = True
            maximum = min(maximum, (category.base_score or 0.0) + scored_max)
        cat_score = min(max(subtotal, 0.0), maximum)
        categories.append(
            CategoryScore(
                id=category.id,
                name=category.name,
                score=_round(cat_score),
                max_points=_round(maximum),
                unscored_items=unscored,
            )
        )
        total_raw += cat_score
        available += maximum
        for item in category.items:
            results.append(cat_results[item.id])
            by_id[item.id] = cat_results[item.id]

    total: float | None = total_raw
    run_errors = list(errors)
    if excluded_any:
        if available > 0:
            total = total_raw * rubric.max_score / available
        else:
            total = None
            run_errors.append("every item is excluded as not applicable; no total")
    hits = [hit for o in rubric.overrides if (hit := _fires(o, by_id)) is not None]
    for hit in hits:
        if total is None:
            break
        if hit.kind in ("fatal", "zero_score"):
            total = 0.0
        elif hit.kind == "cap":
            cap = next(o.cap for o in rubric.overrides if o.id == hit.id)
            total = min(total, cap or 0.0)
    usage = sum((r.usage for r in results), Usage())
    return Scorecard(
        conversation_id=conversation_id,
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        model=model,
        total_score=None if total is None else _round(total),
        max_score=rubric.max_score,
        fatal=any(h.kind == "fatal" for h in hits),
        zero_score=any(h.kind == "zero_score" for h in hits),
        overrides=hits,
        items=results,
        categories=categories,
        complete=not any(r.unscored for r in results),
        unscored_points=_round(unscored_points),
        usage=usage,
        errors=run_errors,
        metadata=dict(metadata or {}),
    )


def _round(value: float) -> float:
    return round(value, 4) + 0.0  # + 0.0 turns -0.0 into 0.0


def rescore(card: Scorecard, rubric: Rubric) -> Scorecard:
    """Recompute a scorecard from its stored item results under a changed rubric.

    Points, weights, categories, N/A policies and overrides may change; an item whose
    fingerprint (wording, tiers, flags, rule) changed, or that is new, cannot be reused and
    raises :class:`~llm_grader.errors.RescoreError` naming the items.
    """
    from .errors import RescoreError
    from .rubric import item_fingerprint

    stored = {r.item_id: r for r in card.items}
    changed = [
        item.id
        for _, item in rubric.items()
        if item.id not in stored or stored[item.id].audit.item_hash != item_fingerprint(item)
    ]
    if changed:
        raise RescoreError(
            f"{card.conversation_id}: items changed or new since grading: {', '.join(changed)}; "
            "grade them again",
            items=changed,
        )
    judgements = []
    for _, item in rubric.items():
        r = stored[item.id]
        na_policy = None
        if r.not_applicable and r.audit.na_source == "applicability" and item.applicability:
            na_policy = item.applicability.policy
        judgements.append(
            Judgement(
                item_id=item.id,
                tier=r.tier,
                occurrences=tuple(r.occurrences or ()),
                not_applicable=r.not_applicable,
                na_policy=na_policy,
                flags=r.flags,
                evidence=tuple(r.evidence),
                rationale=r.rationale,
                measured=r.measured,
                error=r.error,
                needs_review=r.needs_review,
                usage=Usage(),
                audit=r.audit,
            )
        )
    return score(
        rubric,
        judgements,
        conversation_id=card.conversation_id,
        model=card.model,
        errors=card.errors,
        metadata=card.metadata,
    ).model_copy(update={"usage": card.usage})
