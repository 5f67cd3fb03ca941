"""Overrides: deterministic rules on the whole record, fired by the facts items reported.

Each condition kind is a small pure function, resolved through :data:`CONDITIONS`. An
override looks only at graded, applicable items; it returns what fired and never changes
the item results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..rubric import Condition, Override
from ..types import Evidence
from .scorecard import ItemResult, OverrideHit

__all__ = ["CONDITIONS", "apply_overrides", "fired_overrides"]

_ConditionFn = Callable[[Condition, ItemResult], bool]

CONDITIONS: Mapping[str, _ConditionFn] = {
    "flag": lambda c, r: bool(r.flags.get(c.flag or "")),
    "tier": lambda c, r: r.tier is not None and r.tier in (c.tier or []),
    "min_occurrences": lambda c, r: len(r.occurrences or []) >= (c.min_occurrences or 0),
}
"""How each kind of override condition is tested on a graded item."""


def _evidence(condition: Condition, result: ItemResult) -> list[Evidence]:
    if condition.kind == "min_occurrences" and result.occurrences:
        return list(result.occurrences)
    return list(result.evidence)


def _fires(override: Override, results: Mapping[str, ItemResult]) -> OverrideHit | None:
    evidence: list[Evidence] = []
    for condition in override.when:
        result = results.get(condition.item)
        if result is None or result.unscored or result.not_applicable:
            return None
        if not CONDITIONS[condition.kind](condition, result):
            return None
        evidence += _evidence(condition, result)
    return OverrideHit(
        id=override.id,
        kind=override.kind,
        reason=override.reason,
        items=[c.item for c in override.when],
        evidence=evidence,
    )


def fired_overrides(overrides: Sequence[Override], results: Mapping[str, ItemResult]) -> list[OverrideHit]:
    """The overrides whose conditions all hold, in rubric order."""
    return [hit for o in overrides if (hit := _fires(o, results)) is not None]


def apply_overrides(overrides: Sequence[Override], hits: Sequence[OverrideHit], total: float) -> float:
    """The total after the fired overrides: fatal and zero-score make it 0, a cap bounds it."""
    caps = {o.id: o.cap for o in overrides}
    for hit in hits:
        if hit.kind in ("fatal", "zero_score"):
            total = 0.0
        elif hit.kind == "cap":
            total = min(total, caps.get(hit.id) or 0.0)
    return total
