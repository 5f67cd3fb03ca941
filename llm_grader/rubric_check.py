"""Rubric checks: parse YAML with line numbers, validate, and lint — every problem at once.

Each problem names the file, the line and the field (``file:line: field: message``).
Errors stop a rubric from loading; warnings (a category whose items add up to less than its
maximum, a threshold list without a catch-all) do not.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from ._yaml import FieldPath, LineMap, load_yaml_with_lines, path_to_str
from .errors import Problem
from .rubric import ForbiddenWordsRule, Item, PhraseRule, Rubric, _builtin_path, _read

__all__ = ["check_rubric"]


def _parse(text: str, file: str) -> tuple[Any, LineMap, list[Problem]]:
    try:
        data, lines, duplicates = load_yaml_with_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
        return None, {}, [Problem(file=file, line=mark.line + 1 if mark else None, field="", message=message)]
    problems = [
        Problem(
            file=file,
            line=line,
            field=path_to_str(path),
            message="duplicate key; the later value would silently win",
        )
        for path, line in duplicates
    ]
    if not isinstance(data, dict):
        problems.append(
            Problem(
                file=file,
                line=1,
                field="",
                message="a rubric must be a YAML mapping with id, name, categories…",
            )
        )
        data = None
    return data, lines, problems


def _line(lines: LineMap, path: FieldPath) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "is required",
}


def _validate(data: Any, *, file: str, lines: LineMap) -> tuple[Rubric | None, list[Problem]]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    # Unknown fields are dropped and validation retried, so that one typo does not hide the
    # rest of the checks: every problem is reported at once.
    for _attempt in range(20):
        try:
            rubric = Rubric.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            for err in errors:
                loc = _clean_loc(err["loc"])
                message = _message(err, loc)
                key = (path_to_str(loc), message)
                if key not in seen:
                    seen.add(key)
                    problems.append(
                        Problem(file=file, line=_line(lines, loc), field=path_to_str(loc), message=message)
                    )
            if not all(err["type"] == "extra_forbidden" for err in errors):
                return None, problems
            data = copy.deepcopy(data)
            for err in errors:
                _drop(data, _clean_loc(err["loc"]))
            continue
        return rubric, problems + list(_lint(rubric, file=file, lines=lines))
    return None, problems


def _clean_loc(raw: tuple[str | int, ...]) -> FieldPath:
    # Drop the discriminated-union tag pydantic inserts into the location.
    return tuple(p for p in raw if not (isinstance(p, str) and p in _RULE_TYPES and raw[-1] != p))


def _message(err: Any, loc: FieldPath) -> str:
    if err["type"] == "extra_forbidden" and loc:
        return f"unknown field {loc[-1]!r}"
    if err["type"] == "union_tag_invalid":
        return f"unknown rule type; valid types: {', '.join(_RULE_TYPES)}"
    return str(_MESSAGES.get(err["type"], err["msg"])).removeprefix("Value error, ")


def _drop(data: Any, loc: FieldPath) -> None:
    for part in loc[:-1]:
        data = data[part]
    if isinstance(data, dict):
        data.pop(loc[-1], None)


_RULE_TYPES = (
    "phrases",
    "forbidden_words",
    "first_response_time",
    "longest_agent_gap",
    "interruptions",
    "speaking_rate",
)


def _lint(rubric: Rubric, *, file: str, lines: LineMap) -> Iterator[Problem]:
    def problem(path: FieldPath, message: str, severity: Literal["error", "warning"] = "error") -> Problem:
        return Problem(
            file=file, line=_line(lines, path), field=path_to_str(path), message=message, severity=severity
        )

    item_ids: dict[str, Item] = {}
    seen_ids: set[str] = set()
    total = 0.0
    for ci, category in enumerate(rubric.categories):
        cpath: FieldPath = ("categories", ci)
        if category.id in seen_ids:
            yield problem((*cpath, "id"), f"duplicate id {category.id!r}")
        seen_ids.add(category.id)
        item_sum = 0.0
        category_items = {item.id for item in category.items}
        for ii, item in enumerate(category.items):
            ipath: FieldPath = (*cpath, "items", ii)
            if item.id in item_ids or item.id in seen_ids:
                yield problem((*ipath, "id"), f"duplicate id {item.id!r}")
            item_ids[item.id] = item
            seen_ids.add(item.id)
            item_sum += item.max_points
            yield from _lint_item(item, ipath, category_items, problem)
        maximum = category.maximum
        total += maximum
        if category.base_score is None and item_sum < maximum - 1e-9:
            yield problem(
                (*cpath, "max_points"),
                f"items add up to {item_sum:g}, less than the category maximum {maximum:g}",
                "warning",
            )
        if category.base_score is None and item_sum > maximum + 1e-9:
            yield problem(
                (*cpath, "max_points"),
                f"items add up to {item_sum:g}, more than the category maximum "
                f"{maximum:g}; the subtotal is capped at {maximum:g}",
                "warning",
            )
    if abs(total - rubric.max_score) > 1e-9:
        yield problem(
            ("max_score",), f"categories add up to {total:g}, not the declared total {rubric.max_score:g}"
        )
    for oi, override in enumerate(rubric.overrides):
        opath: FieldPath = ("overrides", oi)
        if override.id in seen_ids:
            yield problem((*opath, "id"), f"duplicate id {override.id!r}")
        seen_ids.add(override.id)
        if override.cap is not None and override.cap > rubric.max_score:
            yield problem((*opath, "cap"), f"cap {override.cap:g} is above max_score {rubric.max_score:g}")
        for wi, cond in enumerate(override.when):
            wpath: FieldPath = (*opath, "when", wi)
            target = item_ids.get(cond.item)
            if target is None:
                yield problem(
                    (*wpath, "item"), f"unknown item {cond.item!r}; valid items: {', '.join(item_ids)}"
                )
                continue
            if cond.flag is not None and cond.flag not in {f.id for f in target.flags}:
                valid = ", ".join(f.id for f in target.flags) or "none declared"
                yield problem(
                    (*wpath, "flag"), f"item {target.id!r} declares no flag {cond.flag!r}; its flags: {valid}"
                )
            if cond.tier is not None:
                tier_ids = [t.id for t in target.tiers]
                for bad in [t for t in cond.tier if t not in tier_ids]:
                    yield problem(
                        (*wpath, "tier"),
                        f"item {target.id!r} has no tier {bad!r}; its tiers: "
                        f"{', '.join(t.id for t in target.tiers) or 'none'}",
                    )
            if cond.min_occurrences is not None and not (target.is_deduction or target.judge == "rule"):
                yield problem(
                    (*wpath, "min_occurrences"),
                    f"item {target.id!r} counts no occurrences (not a deduction or rule item)",
                )


def _lint_item(
    item: Item, ipath: FieldPath, category_items: set[str], problem: Callable[..., Problem]
) -> Iterator[Problem]:
    if item.is_deduction:
        if item.tiers:
            yield problem((*ipath, "tiers"), "a deduction item has no tiers; remove them or 'deduction'")
        if item.points:
            yield problem((*ipath, "points"), "a deduction item has no points; put them in deduction.points")
        assert item.deduction is not None
        for target in item.deduction.applies_to or []:
            if target not in category_items or target == item.id:
                yield problem(
                    (*ipath, "deduction", "applies_to"),
                    f"{target!r} is not another item of this category; valid: "
                    f"{', '.join(sorted(category_items - {item.id}))}",
                )
    else:
        if not item.tiers:
            yield problem((*ipath, "tiers"), "a scored item needs tiers (or a scale preset)")
        seen_tiers: set[str] = set()
        for ti, tier in enumerate(item.tiers):
            tpath: FieldPath = (*ipath, "tiers", ti)
            if tier.id in seen_tiers:
                yield problem((*tpath, "id"), f"duplicate tier id {tier.id!r}")
            seen_tiers.add(tier.id)
            if tier.id == "not_applicable":
                yield problem(
                    (*tpath, "id"), "'not_applicable' is reserved; use the item's not_applicable field"
                )
            if (tier.points is None) == (tier.ratio is None):
                yield problem(tpath, "give exactly one of 'points' and 'ratio'")
            elif tier.points is not None and tier.points > item.points + 1e-9:
                yield problem(
                    (*tpath, "points"),
                    f"tier {tier.id!r} gives {tier.points:g} points, above the item's "
                    f"maximum {item.points:g}",
                )
        if (
            item.tiers
            and item.points
            and max(item.tier_points(t) for t in item.tiers) < item.max_points - 1e-9
        ):
            yield problem((*ipath, "tiers"), f"no tier reaches the item's {item.points:g} points", "warning")
    if item.judge == "rule" and item.rule is None:
        yield problem((*ipath, "rule"), "a rule item needs a 'rule'")
    if item.judge == "model" and item.rule is not None:
        yield problem((*ipath, "rule"), "a model-judged item has no 'rule'; set judge: rule")
    if item.rule is not None:
        rule = item.rule
        patterns: list[tuple[FieldPath, str]] = []
        if isinstance(rule, PhraseRule) and rule.regex:
            for pi, entry in enumerate(rule.phrases):
                alternatives = [entry] if isinstance(entry, str) else entry
                patterns += [((*ipath, "rule", "phrases", pi), p) for p in alternatives]
        if isinstance(rule, ForbiddenWordsRule) and rule.regex:
            patterns = [((*ipath, "rule", "words", wi), w) for wi, w in enumerate(rule.words)]
        for ppath, pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                yield problem(ppath, f"regex {pattern!r} does not compile: {exc}")
        tier_ids = [t.id for t in item.tiers]
        flag_ids = {f.id for f in item.flags}
        for hi, threshold in enumerate(rule.thresholds):
            hpath: FieldPath = (*ipath, "rule", "thresholds", hi)
            if threshold.tier not in tier_ids:
                yield problem(
                    (*hpath, "tier"),
                    f"unknown tier {threshold.tier!r}; the item's tiers: {', '.join(tier_ids) or 'none'}",
                )
            for flag in threshold.flags:
                if flag not in flag_ids:
                    yield problem((*hpath, "flags"), f"item declares no flag {flag!r}")
        if not item.is_deduction and not rule.thresholds:
            yield problem((*ipath, "rule", "thresholds"), "a scored rule item needs thresholds")
        if rule.thresholds and (rule.thresholds[-1].min is not None or rule.thresholds[-1].max is not None):
            yield problem(
                (*ipath, "rule", "thresholds"),
                "the last threshold has bounds; values outside every threshold will be "
                "not gradable (end with a threshold without min/max)",
                "warning",
            )
    flag_list = [f.id for f in item.flags]
    for fi, flag_id in enumerate(flag_list):
        if flag_id in flag_list[:fi]:
            yield problem((*ipath, "flags", fi, "id"), f"duplicate flag id {flag_id!r}")


def check_rubric(source: str | Path, *, text: str | None = None) -> tuple[Rubric | None, list[Problem]]:
    """Load and lint a rubric, returning it (None when it does not load) and every problem.

    ``source`` is a path or a built-in name; ``text`` overrides the file's content.
    """
    name = str(source)
    if text is None:
        is_path = isinstance(source, Path) or name.endswith((".yaml", ".yml")) or "/" in name
        path = Path(name) if is_path else _builtin_path(name)
        text = _read(path)
        name = str(path) if is_path else name
    data, lines, problems = _parse(text, name)
    if any(p.severity == "error" for p in problems) and data is None:
        return None, problems
    rubric, more = _validate(data, file=name, lines=lines)
    return rubric, sorted(problems + more, key=lambda p: p.line or 0)
