"""The candidate rubric: the old rubric's YAML text with examples added under items, a new version.

The text is edited, not re-dumped, so comments, order and quoting stay as the author wrote
them and the diff shows only what alignment added: an ``examples:`` list at the end of each
item that gets some (appended to the item's own list when it has one) and the ``version``.
The result is checked as ``llm-grader rubric check`` checks a file, and must load with
exactly the examples intended.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence

from .._yaml import FieldPath, load_yaml_with_lines
from ..errors import LLMGraderError
from ..rubric import Example, Rubric, check_rubric

_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def next_version(version: str) -> str:
    """The version after ``version``: its last number plus one (``1.2`` → ``1.3``), else ``-align1`` added."""
    match = _NUMBER.search(version)
    if match is None:
        return f"{version}-align1"
    return version[: match.start()] + str(int(match.group(1)) + 1) + version[match.end() :]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """The index after the block at ``lines[start]`` (ended by a line indented ``indent`` or less)."""
    end = start + 1
    last = start + 1
    while end < len(lines):
        stripped = lines[end].strip()
        if stripped and not stripped.startswith("#"):
            if _indent(lines[end]) <= indent:
                break
            last = end + 1
        end += 1
    return last


def _scalar(value: str, indent: str) -> str:
    """A YAML scalar: a block literal for multi-line text, else a double-quoted (JSON) string."""
    if "\n" in value and all(line == line.strip() and line for line in value.split("\n")):
        return "|-\n" + "\n".join(f"{indent}  {line}" for line in value.split("\n"))
    return json.dumps(value, ensure_ascii=False)


def _entries(examples: Sequence[Example], indent: int) -> list[str]:
    """YAML list entries for the examples, ``- `` at column ``indent``."""
    pad, inner = " " * indent, " " * (indent + 2)
    out = []
    for example in examples:
        out.append(f"{pad}- tier: {json.dumps(example.tier, ensure_ascii=False)}")
        out.append(f"{inner}text: {_scalar(example.text, inner)}")
        if example.why:
            out.append(f"{inner}why: {_scalar(example.why, inner)}")
        if example.quotes:
            out.append(f"{inner}quotes: {json.dumps(example.quotes, ensure_ascii=False)}")
    return out


def _item_paths(rubric: Rubric) -> dict[str, FieldPath]:
    return {
        item.id: ("categories", ci, "items", ii)
        for ci, category in enumerate(rubric.categories)
        for ii, item in enumerate(category.items)
    }


def candidate_text(
    source: str, rubric: Rubric, additions: Mapping[str, Sequence[Example]], version: str
) -> str:
    """``source`` (the rubric's YAML) with ``additions`` (item id → examples) and ``version``.

    Raises:
        LLMGraderError: the text could not be edited so that it loads with those examples
            (a rubric written in flow style, say).
    """
    _, where, _ = load_yaml_with_lines(source)
    lines = source.split("\n")
    paths = _item_paths(rubric)
    edits: list[tuple[int, list[str]]] = []  # (insert before index, lines), applied bottom up
    for item_id, examples in additions.items():
        if not examples:
            continue
        path = paths[item_id]
        id_path, examples_path = (*path, "id"), (*path, "examples")
        key_line = lines[where[id_path] - 1]
        key_indent = key_line.index("id:") if key_line.lstrip().startswith(("id:", "- id:")) else None
        if key_indent is None:
            raise LLMGraderError(
                f"cannot add examples to item {item_id!r}: its id is not on a line of its own"
            )
        if examples_path in where:
            at = where[examples_path] - 1
            first = where.get((*examples_path, 0))
            indent = _indent(lines[first - 1]) if first else key_indent + 2
            if lines[at].rstrip().endswith("[]"):
                lines[at] = lines[at].rstrip()[:-2].rstrip()
            edits.append((_block_end(lines, at, key_indent), _entries(examples, indent)))
        else:
            start = where[path] - 1
            block = ["" + " " * key_indent + "examples:", *_entries(examples, key_indent + 2)]
            edits.append((_block_end(lines, start, key_indent - 2 if key_indent >= 2 else 0), block))
    for at, block in sorted(edits, key=lambda e: -e[0]):
        lines[at:at] = block
    version_line = where.get(("version",))
    if version_line is None:
        raise LLMGraderError("the rubric has no version line to change")
    line = lines[version_line - 1]
    lines[version_line - 1] = line[: line.index("version:")] + f"version: {json.dumps(version)}"
    text = "\n".join(lines)
    _check(text, rubric, additions, version)
    return text


def _check(text: str, rubric: Rubric, additions: Mapping[str, Sequence[Example]], version: str) -> None:
    """The edited text loads, passes ``rubric check`` and has exactly the examples intended."""
    loaded, problems = check_rubric(f"{rubric.id}-v{version}.yaml", text=text)
    errors = [p for p in problems if p.severity == "error"]
    if loaded is None or errors:
        shown = "; ".join(f"line {p.line}: {p.field}: {p.message}" for p in errors[:5])
        raise LLMGraderError(f"the candidate rubric does not pass rubric check: {shown}")
    for _, item in rubric.items():
        wanted = [*item.examples, *additions.get(item.id, ())]
        if loaded.item(item.id).examples != wanted:
            raise LLMGraderError(f"cannot add examples to item {item.id!r} in this rubric's layout")


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff of the two rubric texts, three lines of context."""
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm="")
    return "\n".join(diff) + "\n"
