"""The checks across fields of a validated rubric: ids, sums, tiers, rules and overrides.

Pydantic validates each field on its own; these checks find what only the whole rubric
shows — a duplicate id, categories that do not add up, an override naming an unknown item,
a hybrid's rule (``decide_by_rule``) that names an unknown tier or always fires, an example
whose tier or quotes do not fit, an item whose wording names a metadata field it does not show.
Each check is a small function yielding findings; :func:`lint_rubric` runs them in card
order and locates each as a ``file:line: field: message`` problem. Errors stop a rubric from
loading; warnings (a category whose items add up to less than its maximum, values that no
threshold covers) do not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

from .._yaml import FieldPath, LineMap, problem_at
from ..errors import Problem
from ..patterns import PatternError, compile_pattern
from ..types import CANNOT_DETERMINE, NOT_APPLICABLE
from ._card import Category, Condition, Item, Rubric
from ._fields import Finding as _Finding
from ._fields import example_problems, unshown_fields
from ._lint_parts import checks_structure, checks_thresholds, known_targets, ordered
from ._rule_types import CombinedRule, ForbiddenWordsRule, InterruptionRule, PhraseRule, Rule
from ._rule_types import uncovered_intervals as _gaps

_EPSILON = 1e-9


def lint_rubric(rubric: Rubric, *, file: str, lines: LineMap) -> list[Problem]:
    """Every problem the cross-field checks find in ``rubric``, in card order."""
    return [
        problem_at(file, lines, finding.path, finding.message, finding.severity)
        for check in _RUBRIC_CHECKS
        for finding in check(rubric)
    ]


# --------------------------------------------------------------------------- ids


def _duplicate_id_paths(rubric: Rubric) -> set[FieldPath]:
    """Paths of the categories, items and overrides whose id was used before them."""
    seen: set[str] = set()
    duplicates: set[FieldPath] = set()
    for path, id_ in _id_paths(rubric):
        if id_ in seen:
            duplicates.add(path)
        seen.add(id_)
    return duplicates


def _id_paths(rubric: Rubric) -> Iterator[tuple[FieldPath, str]]:
    for ci, category in enumerate(rubric.categories):
        yield ("categories", ci), category.id
        for ii, item in enumerate(category.items):
            yield ("categories", ci, "items", ii), item.id
    for oi, override in enumerate(rubric.overrides):
        yield ("overrides", oi), override.id


def _duplicate(id_: str, path: FieldPath, duplicates: set[FieldPath]) -> Iterator[_Finding]:
    if path in duplicates:
        yield _Finding((*path, "id"), f"duplicate id {id_!r}")


# --------------------------------------------------------------------------- rubric checks


def _check_categories(rubric: Rubric) -> Iterator[_Finding]:
    duplicates = _duplicate_id_paths(rubric)
    for ci, category in enumerate(rubric.categories):
        path: FieldPath = ("categories", ci)
        yield from _duplicate(category.id, path, duplicates)
        siblings = frozenset(item.id for item in category.items)
        for ii, item in enumerate(category.items):
            item_path: FieldPath = (*path, "items", ii)
            yield from _duplicate(item.id, item_path, duplicates)
            for check in _ITEM_CHECKS:
                yield from check(item, item_path, siblings)
        yield from _category_sum(category, path)


def _category_sum(category: Category, path: FieldPath) -> Iterator[_Finding]:
    if category.base_score is not None:
        return
    item_sum = sum(item.max_points for item in category.items)
    maximum = category.maximum
    if item_sum < maximum - _EPSILON:
        yield _Finding(
            (*path, "max_points"),
            f"items add up to {item_sum:g}, less than the category maximum {maximum:g}",
            "warning",
        )
    if item_sum > maximum + _EPSILON:
        yield _Finding(
            (*path, "max_points"),
            f"items add up to {item_sum:g}, more than the category maximum "
            f"{maximum:g}; the subtotal is capped at {maximum:g}",
            "warning",
        )


def _check_total(rubric: Rubric) -> Iterator[_Finding]:
    total = sum(category.maximum for category in rubric.categories)
    if abs(total - rubric.max_score) > _EPSILON:
        yield _Finding(
            ("max_score",), f"categories add up to {total:g}, not the declared total {rubric.max_score:g}"
        )


def _check_overrides(rubric: Rubric) -> Iterator[_Finding]:
    duplicates = _duplicate_id_paths(rubric)
    items = {item.id: item for _, item in rubric.items()}
    for oi, override in enumerate(rubric.overrides):
        path: FieldPath = ("overrides", oi)
        yield from _duplicate(override.id, path, duplicates)
        if override.cap is not None and override.cap > rubric.max_score:
            yield _Finding((*path, "cap"), f"cap {override.cap:g} is above max_score {rubric.max_score:g}")
        for wi, condition in enumerate(override.when):
            yield from _condition_findings(condition, (*path, "when", wi), items)
    for ci, rule in enumerate(rubric.consistency):
        path = ("consistency", ci)
        for ai, condition in enumerate(rule.agree):
            yield from _condition_findings(condition, (*path, "agree", ai), items)


def _condition_findings(condition: Condition, path: FieldPath, items: dict[str, Item]) -> Iterator[_Finding]:
    target = items.get(condition.item)
    if target is None:
        yield _Finding((*path, "item"), f"unknown item {condition.item!r}; valid items: {', '.join(items)}")
        return
    for check in _CONDITION_CHECKS:
        yield from check(condition, target, path)


# --------------------------------------------------------------------------- condition checks


def _flag_declared(condition: Condition, target: Item, path: FieldPath) -> Iterator[_Finding]:
    if condition.flag is not None and condition.flag not in {f.id for f in target.flags}:
        valid = ", ".join(f.id for f in target.flags) or "none declared"
        yield _Finding(
            (*path, "flag"), f"item {target.id!r} declares no flag {condition.flag!r}; its flags: {valid}"
        )


def _tiers_known(condition: Condition, target: Item, path: FieldPath) -> Iterator[_Finding]:
    tier_ids = [t.id for t in target.tiers]
    for bad in [t for t in condition.tier or [] if t not in tier_ids]:
        yield _Finding(
            (*path, "tier"),
            f"item {target.id!r} has no tier {bad!r}; its tiers: {', '.join(tier_ids) or 'none'}",
        )


def _counts_occurrences(condition: Condition, target: Item, path: FieldPath) -> Iterator[_Finding]:
    if condition.min_occurrences is not None and not (target.is_deduction or target.judge == "rule"):
        yield _Finding(
            (*path, "min_occurrences"),
            f"item {target.id!r} counts no occurrences (not a deduction or rule item)",
        )


# --------------------------------------------------------------------------- item checks


def _deduction_has_no_tiers(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[_Finding]:
    if item.is_deduction and item.tiers:
        yield _Finding((*path, "tiers"), "a deduction item has no tiers; remove them or 'deduction'")
    if item.is_deduction and item.points:
        yield _Finding((*path, "points"), "a deduction item has no points; put them in deduction.points")


def _deduction_targets(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[_Finding]:
    targets = item.deduction.applies_to if item.deduction is not None else None
    valid = ", ".join(sorted(siblings - {item.id}))
    for target in targets or []:
        if target not in siblings or target == item.id:
            yield _Finding(
                (*path, "deduction", "applies_to"),
                f"{target!r} is not another item of this category; valid: {valid}",
            )


def _scored_tiers(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[_Finding]:
    if item.is_deduction:
        return
    if not item.tiers:
        yield _Finding((*path, "tiers"), "a scored item needs tiers (or a scale preset)")
    for ti in range(len(item.tiers)):
        yield from _tier_findings(item, ti, (*path, "tiers", ti))
    if (
        item.tiers
        and item.points
        and max(item.tier_points(t) for t in item.tiers) < item.max_points - _EPSILON
    ):
        yield _Finding((*path, "tiers"), f"no tier reaches the item's {item.points:g} points", "warning")


def _tier_findings(item: Item, index: int, path: FieldPath) -> Iterator[_Finding]:
    tier = item.tiers[index]
    if tier.id in {t.id for t in item.tiers[:index]}:
        yield _Finding((*path, "id"), f"duplicate tier id {tier.id!r}")
    if tier.id == NOT_APPLICABLE:
        yield _Finding((*path, "id"), f"{NOT_APPLICABLE!r} is reserved; use the item's not_applicable field")
    if tier.id == CANNOT_DETERMINE:
        yield _Finding((*path, "id"), f"{CANNOT_DETERMINE!r} is reserved: it is the model's abstention")
    if (tier.points is None) == (tier.ratio is None):
        yield _Finding(path, "give exactly one of 'points' and 'ratio'")
    elif tier.points is not None and tier.points > item.points + _EPSILON:
        yield _Finding(
            (*path, "points"),
            f"tier {tier.id!r} gives {tier.points:g} points, above the item's maximum {item.points:g}",
        )


def _judge_matches_rule(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[_Finding]:
    if item.judge == "rule" and item.rule is None:
        yield _Finding((*path, "rule"), "a rule item needs a 'rule'")
    if item.judge == "model" and item.rule is not None:
        yield _Finding(
            (*path, "rule"),
            "a model-judged item has no 'rule'; set judge: rule, or give it as decide_by_rule (a hybrid)",
        )
    if item.decide_by_rule and (item.judge == "rule" or item.is_deduction):
        yield _Finding((*path, "decide_by_rule"), "only a scored model-judged item can have decide_by_rule")
    if item.is_deduction and isinstance(item.rule, CombinedRule):
        yield _Finding((*path, "rule"), "a deduction item counts occurrences, not failed checks")


class _Site(NamedTuple):
    """A rule of an item: its ``rule``, or one of its ``decide_by_rule`` (a hybrid's)."""

    path: FieldPath
    rule: Rule
    hybrid: bool


def _sites(item: Item, path: FieldPath, *, scored: bool = True) -> list[_Site]:
    """The item's rules; with ``scored``, not a deduction item's (its thresholds are unused)."""
    sites = (
        [_Site((*path, "rule"), item.rule, False)] if item.rule and not (scored and item.is_deduction) else []
    )
    return sites + [_Site((*path, "decide_by_rule", i), r, True) for i, r in enumerate(item.decide_by_rule)]


def _regexes_compile(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[_Finding]:
    # A regex that does not compile, or that needs the backtracking engine and nests repeats.
    for site in _sites(item, path, scored=False):
        for pattern_path, pattern in _regex_patterns(site.rule, site.path):
            try:
                compiled = compile_pattern(pattern, regex=True)
            except PatternError as exc:
                yield _Finding(pattern_path, str(exc))
            else:
                yield from (_Finding(pattern_path, note, "warning") for note in compiled.warnings)


def _regex_patterns(rule: Rule, path: FieldPath) -> list[tuple[FieldPath, str]]:
    if isinstance(rule, CombinedRule):
        return [
            found
            for ci, check in enumerate(rule.checks)
            for found in _regex_patterns(check.rule, (*path, "checks", ci, "rule"))
        ]
    if isinstance(rule, PhraseRule) and rule.regex:
        return [
            ((*path, "phrases", pi), pattern)
            for pi, entry in enumerate(rule.phrases)
            for pattern in ([entry] if isinstance(entry, str) else entry)
        ]
    if isinstance(rule, ForbiddenWordsRule) and rule.regex:
        return [((*path, "words", wi), word) for wi, word in enumerate(rule.words)]
    return []


def _thresholds_known(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[_Finding]:
    for site in _sites(item, path, scored=False):
        yield from known_targets(item, site.rule.thresholds, (*site.path, "thresholds"))


def _thresholds_complete(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[_Finding]:
    # Deduction items count occurrences: their thresholds are not used. A hybrid's rule leaves
    # gaps on purpose (the model decides there), but one that covers every value never lets
    # the model judge.
    for site in _sites(item, path):
        thresholds, where = site.rule.thresholds, (*site.path, "thresholds")
        if not thresholds:
            what = "a hybrid's rule needs thresholds (the values at which it decides a tier)"
            yield _Finding(where, what if site.hybrid else "a scored rule item needs thresholds")
            continue
        counts = isinstance(site.rule, _COUNTING_RULES)
        covered = [b for b in (t.bounds for t in thresholds) if b[0] <= b[1]]
        if isinstance(site.rule, CombinedRule):  # no more checks can fail than there are
            covered.append((len(site.rule.checks) + 1, math.inf))
        gaps = _gaps(covered, counts=counts)
        if site.hybrid and not gaps:
            yield _Finding(
                where,
                "the thresholds hold for every value, so the rule always decides and the model is "
                "never asked: make the item judge: rule, or leave the values the model decides uncovered",
                "warning",
            )
        elif gaps and not site.hybrid:
            yield _Finding(
                where,
                f"no threshold covers {'the counts' if counts else 'values'} {' and '.join(gaps)}: "
                "such a value is not gradable and leaves the item for review (close the gap, or end "
                "with a threshold without min/max)",
                "warning",
            )


def _thresholds_ordered(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[_Finding]:
    for site in _sites(item, path):
        yield from ordered(site.rule.thresholds, (*site.path, "thresholds"))


_COUNTING_RULES = (PhraseRule, ForbiddenWordsRule, InterruptionRule, CombinedRule)
"""Rules whose measured value is a count (0, 1, 2…) rather than seconds or a rate."""


def _flags_unique(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[_Finding]:
    flag_ids = [f.id for f in item.flags]
    for fi, flag_id in enumerate(flag_ids):
        if flag_id in flag_ids[:fi]:
            yield _Finding((*path, "flags", fi, "id"), f"duplicate flag id {flag_id!r}")


_ItemCheck = Callable[[Item, FieldPath, frozenset[str]], Iterator[_Finding]]
_ConditionCheck = Callable[[Condition, Item, FieldPath], Iterator[_Finding]]

_ITEM_CHECKS: tuple[_ItemCheck, ...] = (
    _deduction_has_no_tiers,
    _deduction_targets,
    _scored_tiers,
    _judge_matches_rule,
    _regexes_compile,
    _thresholds_known,
    _thresholds_complete,
    _thresholds_ordered,
    _flags_unique,
    checks_structure,
    checks_thresholds,
    example_problems,
)
"""The checks of one item, in the order their problems are reported; ``siblings`` are the
ids of the items of its category."""

_CONDITION_CHECKS: tuple[_ConditionCheck, ...] = (_flag_declared, _tiers_known, _counts_occurrences)
"""The checks of an override condition whose item exists."""

_RUBRIC_CHECKS: tuple[Callable[[Rubric], Iterator[_Finding]], ...] = (
    _check_categories,
    _check_total,
    _check_overrides,
    unshown_fields,
)
"""The checks of a whole rubric, in card order (the item checks run within the categories)."""
