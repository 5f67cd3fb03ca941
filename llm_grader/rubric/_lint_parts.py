"""Parts of the rubric linter (:mod:`.lint`): thresholds' targets and order, decomposed items.

The checks of decomposed items (``checks`` with their ``thresholds``) are here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .._yaml import FieldPath
from ._card import Item
from ._fields import Finding as _Finding
from ._rule_types import Interval as _Interval
from ._rule_types import Threshold
from ._rule_types import describe_interval as _span
from ._rule_types import merged_intervals as _merged


def known_targets(item: Item, thresholds: Sequence[Threshold], path: FieldPath) -> Iterator[_Finding]:
    """Thresholds naming a tier or a flag the item does not have."""
    tier_ids = [t.id for t in item.tiers]
    flag_ids = {f.id for f in item.flags}
    for hi, threshold in enumerate(thresholds):
        threshold_path: FieldPath = (*path, hi)
        if threshold.tier not in tier_ids:
            yield _Finding(
                (*threshold_path, "tier"),
                f"unknown tier {threshold.tier!r}; the item's tiers: {', '.join(tier_ids) or 'none'}",
            )
        for flag in threshold.flags:
            if flag not in flag_ids:
                yield _Finding((*threshold_path, "flags"), f"item declares no flag {flag!r}")


def checks_structure(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[_Finding]:
    # A decomposed item: checks the model answers, thresholds mapping the failed ones to a tier.
    where: FieldPath = (*path, "thresholds")
    if item.checks and (item.judge == "rule" or item.is_deduction):
        yield _Finding(
            (*path, "checks"),
            "only a scored model-judged item can have checks (its tier is computed from the failed ones)",
        )
    if item.checks and not item.thresholds:
        needs = "an item with checks needs thresholds: the tier for the number (or set) of failed checks"
        yield _Finding(where, needs)
    if item.thresholds and not item.checks:
        yield _Finding(
            where, "thresholds map failed checks to a tier: give the item checks (a rule's go in the rule)"
        )
    ids = [check.id for check in item.checks]
    for ci, check_id in enumerate(ids):
        if check_id in ids[:ci]:
            yield _Finding((*path, "checks", ci, "id"), f"duplicate check id {check_id!r}")


def checks_thresholds(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[_Finding]:
    if not (item.checks and item.thresholds):
        return
    where: FieldPath = (*path, "thresholds")
    ids = [check.id for check in item.checks]
    yield from known_targets(item, item.thresholds, where)
    for hi, threshold in enumerate(item.thresholds):
        for fi, check_id in enumerate(threshold.failed):
            if check_id not in ids:
                known = f"unknown check {check_id!r}; the item's checks: {', '.join(ids)}"
                yield _Finding((*where, hi, "failed", fi), known)
    # Only thresholds without ``failed`` hold for every set of failed checks of their count.
    covered = [t.bounds for t in item.thresholds if not t.failed]
    gaps = [n for n in range(len(ids) + 1) if not any(low <= n <= high for low, high in covered)]
    if gaps:
        counts = ", ".join(map(str, gaps))
        yield _Finding(
            where,
            f"no threshold covers {counts} failed check(s) (of 0 to {len(ids)}): the tier could not be "
            "computed (close the gap, or end with a threshold without min/max)",
        )
    yield from ordered(item.thresholds, where)


def ordered(thresholds: Sequence[Threshold], path: FieldPath) -> Iterator[_Finding]:
    # The first threshold that holds wins: later ones must not be impossible, shadowed, or
    # have a min or max that an earlier threshold makes meaningless.
    earlier: list[tuple[int, _Interval]] = []
    for index, threshold in enumerate(thresholds):
        where: FieldPath = (*path, index)
        low, high = threshold.bounds
        if low > high:
            yield _Finding(where, f"min {low:g} is above max {high:g}: no value can match")
            continue
        takers = [f"thresholds[{j}]" for j, (a, b) in earlier if a <= high and low <= b]
        conditional = bool(getattr(threshold, "failed", None))  # holds for some failed checks only
        if any(a <= low and high <= b for a, b in _merged([interval for _, interval in earlier])):
            first = "which come first" if len(takers) > 1 else "which comes first"
            taken = f"{_span(low, high)} is already taken by {' and '.join(takers)}, {first}"
            yield _Finding(where, f"never matches: {taken}")
        elif not conditional:
            yield from _overlaps(threshold, where, earlier)
        if not conditional:
            earlier.append((index, (low, high)))


def _overlaps(
    threshold: Threshold, where: FieldPath, earlier: list[tuple[int, _Interval]]
) -> Iterator[_Finding]:
    """A declared min or max that falls inside an earlier threshold's range (beyond a shared end)."""
    low, high = threshold.bounds
    for j, (a, b) in earlier if threshold.min is not None else []:
        if a <= low < b:
            yield _Finding(
                (*where, "min"),
                f"overlaps thresholds[{j}], which comes first and takes {_span(low, min(b, high))}: "
                f"raise min to {b:g}, or reorder the thresholds",
            )
            break
    for j, (a, b) in earlier if threshold.max is not None else []:
        if a < high <= b:
            yield _Finding(
                (*where, "max"),
                f"overlaps thresholds[{j}], which comes first and takes {_span(max(a, low), high)}: "
                f"lower max to {a:g}, or reorder the thresholds",
            )
            break
