"""Overrides: deterministic rules on the whole record, fired by the facts items reported.

Each condition kind is a small pure function, resolved through :data:`CONDITIONS`. An
override looks only at graded, applicable items; it returns what fired and never changes
the item results. A flag that a hybrid item's rule left unanswered (the rule decided the
tier, ``audit.decided_by == "rule"``, and raised only its threshold's flags) is undetermined,
never "not raised".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..rubric import Condition, Override
from ..types import Evidence
from ._scorecard import ItemResult, OverrideHit, PendingOverride

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


def _undetermined(result: ItemResult, flag: str) -> bool:
    """A flag a hybrid item's rule left unanswered (it decided the tier; only a model knows the flag)."""
    return result.audit.decided_by == "rule" and flag not in result.flags


def _state(condition: Condition, result: ItemResult | None) -> bool | None:
    """Whether the condition holds: None when it cannot be told.

    It cannot when the item is unscored, its evidence unverified, or the flag undetermined.
    """
    if result is None or result.unscored:
        return None
    if result.not_applicable:
        return False
    if condition.flag is not None and _undetermined(result, condition.flag):
        return None
    if not CONDITIONS[condition.kind](condition, result):
        return False
    if any(not e.verified for e in _evidence(condition, result)):
        return None  # an override never fires on evidence that was not found in the transcript
    return True


def condition_state(condition: Condition, result: ItemResult | None) -> bool | None:
    """Whether ``condition`` holds for ``result``: True, False, or None when it cannot be told.

    It cannot when the item is unscored, its evidence unverified, or the flag undetermined.
    """
    return _state(condition, result)


def _hit(override: Override, results: Mapping[str, ItemResult]) -> OverrideHit:
    evidence = [e for c in override.when for e in _evidence(c, results[c.item])]
    return OverrideHit(
        id=override.id,
        kind=override.kind,
        reason=override.reason,
        items=[c.item for c in override.when],
        evidence=evidence,
    )


def evaluate_overrides(
    overrides: Sequence[Override], results: Mapping[str, ItemResult]
) -> tuple[list[OverrideHit], list[PendingOverride]]:
    """The overrides that fire, and those that cannot be decided yet, in rubric order.

    An override fires when every condition holds; it is pending when none fails but some
    cannot be told — an item it looks at is unscored or its evidence is unverified — and
    ``blocking`` names those items.
    """
    hits: list[OverrideHit] = []
    pending: list[PendingOverride] = []
    for override in overrides:
        states = [(c, _state(c, results.get(c.item))) for c in override.when]
        if any(state is False for _, state in states):
            continue
        blocking = [c.item for c, state in states if state is None]
        if blocking:
            pending.append(
                PendingOverride(id=override.id, kind=override.kind, reason=override.reason, blocking=blocking)
            )
        else:
            hits.append(_hit(override, results))
    return hits, pending


def fired_overrides(overrides: Sequence[Override], results: Mapping[str, ItemResult]) -> list[OverrideHit]:
    """The overrides whose conditions all hold, in rubric order."""
    return evaluate_overrides(overrides, results)[0]


def apply_overrides(overrides: Sequence[Override], hits: Sequence[OverrideHit], total: float) -> float:
    """The total after the fired overrides: fatal and zero-score make it 0, a cap bounds it."""
    caps = {o.id: o.cap for o in overrides}
    for hit in hits:
        if hit.kind in ("fatal", "zero_score"):
            total = 0.0
        elif hit.kind == "cap":
            total = min(total, caps.get(hit.id) or 0.0)
    return total
