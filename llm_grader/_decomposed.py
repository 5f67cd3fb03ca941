"""Decomposed model items (``checks``): the tier computed by rule from the checks an answer failed.

The model answers each check of the item (its evidence, then ``passed``); the item's
``thresholds`` — on the number of failed checks and, with ``failed``, on which — give the tier,
as a ``combined`` rule's do (:func:`~llm_grader.rubric.first_threshold`). Each check's answer is
kept for the audit (:class:`~llm_grader.types.CheckResult`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._answers import located_checks
from ._messages import text
from .rubric import Item, first_threshold
from .types import NOT_APPLICABLE, CheckResult


@dataclass(frozen=True)
class Decided:
    """A decomposed item's tier computed from one answer's checks (by the item's thresholds)."""

    tier: str
    flags: tuple[str, ...] = ()
    """Flags the threshold that held raises."""
    results: list[CheckResult] | None = None
    """Each check as answered; None for a not-applicable answer (its checks are not asked)."""
    failed: tuple[str, ...] = ()
    """The ids of the checks that failed, in the item's order."""
    line: str = ""
    """The rationale's line on the checks: how many failed, and which."""
    error: str | None = None
    """Why no tier follows: no threshold holds for these failed checks."""


def by_checks(item: Item, answer: Any, language: str) -> Decided:
    """The tier the item's thresholds give for the checks ``answer`` failed (or why none holds)."""
    if answer.tier == NOT_APPLICABLE:
        return Decided(tier=NOT_APPLICABLE)
    found = located_checks(answer)
    given = answer.checks
    results = [
        CheckResult(id=check.id, passed=given[check.id].passed, evidence=list(found.get(check.id, ())))
        for check in item.checks
    ]
    failed = tuple(r.id for r in results if not r.passed)
    threshold = first_threshold(item.thresholds, len(failed), failed)
    if threshold is None:
        return Decided(tier="", error=text("rule.no_threshold", language, v=len(failed)))
    labels = {check.id: check.label for check in item.checks}
    names = ("、" if language == "zh" else ", ").join(labels[i] for i in failed) or "-"
    line = text("rule.checks", language, failed=len(failed), total=len(item.checks), details=names)
    return Decided(threshold.tier, tuple(threshold.flags), results, failed, line)
