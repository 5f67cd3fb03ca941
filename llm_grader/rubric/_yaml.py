"""YAML loading that remembers the line of every value, so errors can name it."""

from __future__ import annotations

from typing import Any, Literal

import yaml

from ..errors import Problem

__all__ = ["FieldPath", "LineMap", "line_of", "load_yaml_with_lines", "path_to_str", "problem_at"]

FieldPath = tuple[str | int, ...]
LineMap = dict[FieldPath, int]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader; duplicate keys are reported by ``_to_python`` instead of silently kept."""


def path_to_str(path: FieldPath) -> str:
    """Render ``("categories", 0, "items")`` as ``categories[0].items``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def line_of(lines: LineMap, path: FieldPath) -> int | None:
    """The line of the field at ``path``, or of its nearest ancestor that has one."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def problem_at(
    file: str,
    lines: LineMap,
    path: FieldPath,
    message: str,
    severity: Literal["error", "warning"] = "error",
) -> Problem:
    """A problem with the field at ``path``, located by ``lines``."""
    return Problem(
        file=file, line=line_of(lines, path), field=path_to_str(path), message=message, severity=severity
    )


def _to_python(
    node: yaml.Node,
    loader: _UniqueKeyLoader,
    path: FieldPath,
    lines: LineMap,
    duplicates: list[tuple[FieldPath, int]],
) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = (*path, key if isinstance(key, (str, int)) else str(key))
            if key in result:
                duplicates.append((child, key_node.start_mark.line + 1))
            result[key] = _to_python(value_node, loader, child, lines, duplicates)
            # A key's own line is more useful than its value's when the value is a block.
            lines[child] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(child, loader, (*path, i), lines, duplicates) for i, child in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def load_yaml_with_lines(text: str) -> tuple[Any, LineMap, list[tuple[FieldPath, int]]]:
    """Parse one YAML document; return the data, a path → line map and duplicate keys.

    Raises ``yaml.YAMLError`` on a syntax error (its ``problem_mark`` has the position).
    """
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        lines: LineMap = {}
        duplicates: list[tuple[FieldPath, int]] = []
        data = None if node is None else _to_python(node, loader, (), lines, duplicates)
        return data, lines, duplicates
    finally:
        loader.dispose()
