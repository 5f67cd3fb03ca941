"""Loading rubrics: a built-in name or a path → YAML text → data → a checked :class:`Rubric`.

Every problem is reported at once as ``file:line: field: message``: YAML syntax, duplicate
keys and the limits a rubric file must keep (size, depth, aliases: :mod:`._yaml`), field
validation (pydantic), then the cross-field checks of :mod:`.lint`.
:func:`check_rubric` returns the problems; :func:`load_rubric`, :func:`rubric_from_text`
and :func:`rubric_from_dict` raise :class:`~llm_grader.errors.RubricError` with every error.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .._data import data_dir
from .._yaml import (
    MAX_SIZE,
    FieldPath,
    LineMap,
    YamlInputError,
    load_yaml_with_lines,
    path_to_str,
    problem_at,
)
from ..errors import NotFoundError, Problem, RubricError
from ._card import Item, Rubric
from ._lint import lint_rubric
from ._rule_types import RULE_TYPES

# --------------------------------------------------------------------------- files


def builtin_rubrics() -> dict[str, Path]:
    """Names of the built-in rubrics and their files."""
    return {p.stem: p for p in sorted(data_dir("rubrics").glob("*.yaml"))}


def resolve_rubric(name_or_path: str | Path) -> Path:
    """The file of a rubric given as a path or as the name of a built-in rubric.

    A path is a :class:`~pathlib.Path` or text ending in .yaml/.yml or containing a slash
    or backslash; anything else is a built-in name (NotFoundError lists the built-in ones).
    """
    if _is_path(name_or_path):
        return Path(name_or_path)
    name = str(name_or_path)
    known = builtin_rubrics()
    if name not in known:
        raise NotFoundError(
            f"no built-in rubric {name!r}; built-in rubrics: {', '.join(known)} "
            "(or give the path of a .yaml file)",
            name=name,
            choices=list(known),
        )
    return known[name]


def _is_path(name_or_path: str | Path) -> bool:
    text = str(name_or_path)
    return isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text


def _read(path: Path) -> str:
    if not path.is_file():
        raise NotFoundError(f"rubric file {str(path)!r} does not exist", name=str(path))
    try:
        size = path.stat().st_size
        if size > MAX_SIZE:
            message = f"is {size:,} bytes; a rubric may have at most {MAX_SIZE:,}"
            raise RubricError.at(str(path), None, "", message)
        data = path.read_bytes()
    except OSError as exc:
        raise RubricError.at(str(path), None, "", f"cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RubricError.at(str(path), line, "", f"is not UTF-8 ({exc.reason}); save it as UTF-8") from None


# --------------------------------------------------------------------------- loading


def load_rubric(name_or_path: str | Path) -> Rubric:
    """Load a rubric from a path or a built-in name (see :func:`resolve_rubric`).

    Problems name a path as given and a built-in rubric by its file.
    """
    path = resolve_rubric(name_or_path)
    return rubric_from_text(_read(path), file=str(name_or_path) if _is_path(name_or_path) else str(path))


def rubric_from_text(text: str, *, file: str = "<text>") -> Rubric:
    """Parse a rubric from YAML text; ``file`` names it in errors."""
    data, lines, problems = _parse(text, file)
    if problems:
        raise RubricError(problems)
    return rubric_from_dict(data, file=file, lines=lines)


def rubric_from_dict(data: Any, *, file: str = "<dict>", lines: LineMap | None = None) -> Rubric:
    """Validate and check a rubric given as plain data; raise RubricError with every error.

    ``lines`` maps field paths to the lines of ``file`` they came from.
    """
    rubric, problems = _validate(data, file=file, lines=lines or {})
    errors = [p for p in problems if p.severity == "error"]
    if errors or rubric is None:
        raise RubricError(errors)
    return rubric


def check_rubric(source: str | Path, *, text: str | None = None) -> tuple[Rubric | None, list[Problem]]:
    """Load and lint a rubric, returning it (None when it does not load) and every problem.

    ``source`` is a path or a built-in name (see :func:`resolve_rubric`); ``text`` overrides
    the file's content. Problems name a path as read and a built-in rubric by its name; they
    are sorted by line.
    """
    name = str(source)
    if text is None:
        path = resolve_rubric(source)
        text = _read(path)
        name = str(path) if _is_path(source) else name
    data, lines, problems = _parse(text, name)
    if any(p.severity == "error" for p in problems) and data is None:
        return None, problems
    rubric, more = _validate(data, file=name, lines=lines)
    return rubric, sorted(problems + more, key=lambda p: p.line or 0)


# --------------------------------------------------------------------------- parsing


def _parse(text: str, file: str) -> tuple[Any, LineMap, list[Problem]]:
    try:
        data, lines, duplicates = load_yaml_with_lines(text)
    except yaml.YAMLError as exc:
        return None, {}, [_syntax_problem(exc, file, text)]
    except YamlInputError as exc:
        return None, {}, [Problem(file=file, line=exc.line, field=path_to_str(exc.path), message=exc.message)]
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
        message = "a rubric must be a YAML mapping with id, name, categories…"
        problems.append(Problem(file=file, line=1, field="", message=message))
        data = None
    return data, lines, problems


def _syntax_problem(exc: yaml.YAMLError, file: str, text: str) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError):  # a control character; its message spans lines
        line = text.count("\n", 0, exc.position) + 1
        message = f"YAML syntax error: character #x{exc.character:04x} is not allowed ({exc.reason})"
        return Problem(file=file, line=line, field="", message=message)
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return Problem(file=file, line=mark.line + 1 if mark else None, field="", message=message)


# --------------------------------------------------------------------------- validation

_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "is required",
}

_MAX_ATTEMPTS = 20


def _validate(data: Any, *, file: str, lines: LineMap) -> tuple[Rubric | None, list[Problem]]:
    problems: list[Problem] = []
    # Unknown fields are dropped and validation retried, so that one typo does not hide the
    # rest of the checks: every problem is reported at once.
    for _attempt in range(_MAX_ATTEMPTS):
        try:
            rubric = Rubric.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            problems += _new_problems(errors, problems, file=file, lines=lines)
            if not all(err["type"] == "extra_forbidden" for err in errors):
                return None, problems
            data = _without(data, [_clean_loc(err["loc"]) for err in errors])
            continue
        return rubric, problems + lint_rubric(rubric, file=file, lines=lines)
    return None, problems


def _new_problems(errors: list[Any], known: list[Problem], *, file: str, lines: LineMap) -> list[Problem]:
    """Problems of pydantic ``errors``, leaving out those already ``known``."""
    seen = {(p.field, p.message) for p in known}
    new: list[Problem] = []
    for err in errors:
        loc = _clean_loc(err["loc"])
        problem = problem_at(file, lines, loc, _message(err, loc))
        if (problem.field, problem.message) not in seen:
            seen.add((problem.field, problem.message))
            new.append(problem)
    return new


_RULE_FIELDS = ("rule", "decide_by_rule")
"""Fields holding a rule (or a list of rules): pydantic puts the rule's ``type`` after them."""


def _clean_loc(raw: tuple[str | int, ...]) -> FieldPath:
    # Drop the discriminated-union tag pydantic inserts into the location right after a rule
    # field (or its list index), so that a field named like a rule type (phrases) stays.
    kept: list[str | int] = []
    for i, part in enumerate(raw):
        before = raw[i - 1] if i else None
        field = raw[i - 2] if isinstance(before, int) and i > 1 else before
        if part in RULE_TYPES and field in _RULE_FIELDS:
            continue
        kept.append(part)
    return tuple(kept)


def _message(err: Any, loc: FieldPath) -> str:
    if err["type"] == "extra_forbidden" and loc:
        return f"unknown field {loc[-1]!r}"
    if err["type"] == "union_tag_invalid":  # a check's rule takes fewer types than an item's
        expected = str(err.get("ctx", {}).get("expected_tags", "")).replace("'", "")
        return f"unknown rule type; valid types: {expected or ', '.join(RULE_TYPES)}"
    if err["type"] == "finite_number":
        return f"must be a finite number, not {err['input']}"
    return str(_MESSAGES.get(err["type"], err["msg"])).removeprefix("Value error, ")


def _without(data: Any, locs: list[FieldPath]) -> Any:
    """A deep copy of ``data`` without the mapping keys at ``locs``."""
    result = copy.deepcopy(data)
    for loc in locs:
        parent = result
        for part in loc[:-1]:
            parent = parent[part]
        if isinstance(parent, dict):
            parent.pop(loc[-1], None)
    return result


# --------------------------------------------------------------------------- derived


def rubric_json_schema() -> str:
    """The JSON Schema of the rubric format, as shipped in ``rubrics/rubric.schema.json``."""
    schema = Rubric.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "llm-grader rubric"
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def item_fingerprint(item: Item) -> str:
    """A hash of what a grader reads or a rule computes for an item — not its points.

    Two rubric versions whose item has the same fingerprint can share the item's stored
    answers: ``rescore`` recomputes totals under new points, categories or overrides, and
    refuses when a fingerprint changed (the wording, tiers, flags or rule differ).
    """
    data = item.model_dump(mode="json", exclude={"points", "weight", "deduction"})
    if data.get("evidence_from") == ["agent"]:  # the default: keeps fingerprints of older rubrics
        del data["evidence_from"]
    if not data.get("decide_by_rule"):  # likewise: an item that is not a hybrid hashes as before
        data.pop("decide_by_rule", None)
    for field in ("checks", "thresholds"):  # likewise: an item without checks hashes as before
        if not data.get(field):
            data.pop(field, None)
    if not data.get("context"):  # an item that shows no conversation field hashes as before
        data.pop("context", None)
    if data.get("when_unsure") == "strict":  # the default (the policy before the field existed)
        del data["when_unsure"]
    data["tiers"] = [{k: v for k, v in t.items() if k not in ("points", "ratio")} for t in data["tiers"]]
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
