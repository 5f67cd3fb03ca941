"""Cross-item consistency: facts different items judge alike must agree — a pure function.

A rubric's ``consistency`` rules name facts (conditions: an item's flag, tiers or
occurrences) that say the same thing — 推诿 in 处理问题效率's 差 tier and in 服务主动性's
``shirked_unsolved`` flag. Once every fact can be told (each item graded, its evidence
verified), they must all hold or all not hold; when they split, every item of the rule is
marked ``needs_review`` and the split is recorded in its ``audit.inconsistent``. Points are
not changed: a reviewer decides which answer stands, and once a reviewer's verdict is on one
of the rule's items the rule is not checked again.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..rubric import Condition, Rubric
from ..types import Inconsistency
from ._overrides import condition_state
from ._scorecard import ItemResult


def _fact(condition: Condition) -> str:
    if condition.flag is not None:
        return f"{condition.item}: flag {condition.flag}"
    if condition.tier is not None:
        return f"{condition.item}: tier in [{', '.join(condition.tier)}]"
    return f"{condition.item}: at least {condition.min_occurrences} occurrence(s)"


def mark_inconsistent(rubric: Rubric, results: Sequence[ItemResult]) -> list[ItemResult]:
    """``results`` with the items of every broken consistency rule marked for review."""
    by_id = {r.item_id: r for r in results}
    broken: dict[str, list[Inconsistency]] = {}
    for rule in rubric.consistency:
        if any(r.audit.review for c in rule.agree if (r := by_id.get(c.item)) is not None):
            continue  # a reviewer has settled one of the facts: their verdict stands
        states = [condition_state(c, by_id.get(c.item)) for c in rule.agree]
        if None in states or len(set(states)) < 2:
            continue  # a fact not yet told, or all agree
        found = Inconsistency(
            id=rule.id,
            reason=rule.reason,
            holds=[_fact(c) for c, s in zip(rule.agree, states, strict=True) if s],
            fails=[_fact(c) for c, s in zip(rule.agree, states, strict=True) if not s],
        )
        for item_id in dict.fromkeys(c.item for c in rule.agree):
            broken.setdefault(item_id, []).append(found)
    return [
        r.model_copy(
            update={
                "needs_review": True,
                "audit": r.audit.model_copy(update={"inconsistent": broken[r.item_id]}),
            }
        )
        if r.item_id in broken
        else r
        for r in results
    ]
