"""YAML loading that remembers the line of every value, so errors can name it.

A rubric file is untrusted input, so loading is bounded: at most :data:`MAX_SIZE` characters,
nesting at most :data:`MAX_DEPTH` levels deep and at most :data:`MAX_VALUES` values (or
:data:`MAX_EXPANDED_CHARACTERS` characters of text) once aliases are expanded — aliases are
allowed, but an alias bomb stops at the alias that crosses a limit, before anything is expanded.
Whatever else cannot be read (a list as a mapping key, a date that does not exist, an integer
of thousands of digits) is a :class:`YamlInputError` naming its line, never a traceback.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import yaml

from .errors import Problem

FieldPath = tuple[str | int, ...]
LineMap = dict[FieldPath, int]

MAX_SIZE = 1_000_000
"""Most bytes in a rubric file (characters in rubric text)."""
MAX_DEPTH = 64
"""Most levels of nested lists and mappings, aliases expanded (a rubric needs about 10)."""
MAX_VALUES = 100_000
"""Most values (scalars, lists, mappings) once aliases are expanded."""
MAX_EXPANDED_CHARACTERS = 10_000_000
"""Most characters of text once aliases are expanded."""


class YamlInputError(Exception):
    """The document is too big or too deep, or holds something that cannot be read."""

    def __init__(self, line: int | None, message: str, path: FieldPath = ()) -> None:
        self.line = line
        self.path = path
        self.message = message
        super().__init__(message)


class _Size(NamedTuple):
    """What a node amounts to with its aliases expanded."""

    values: int
    characters: int
    height: int
    """Levels of lists and mappings: 0 for a scalar."""


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


class _PyReader(yaml.SafeLoader):
    """PyYAML's own reader, refusing deep ``[[[…`` as it scans.

    Its scanner otherwise reads ahead through the whole run of brackets, in quadratic time.
    """

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise YamlInputError(self.get_mark().line + 1, f"nested deeper than {MAX_DEPTH} levels")
        super().fetch_flow_collection_start(TokenClass)


_READER: Any = getattr(yaml, "CSafeLoader", _PyReader)
"""libyaml's reader where PyYAML has it (many times faster), else PyYAML's own."""
_PYYAML_WORDING_UP_TO = 200_000
"""On a syntax error, text up to this many characters is read again by PyYAML's own reader,
whose messages are the documented ones; a longer text keeps libyaml's (PyYAML takes seconds)."""


class _Frame:
    """An open list or mapping while the events are counted."""

    def __init__(self, anchor: str | None) -> None:
        self.anchor = anchor
        self.size = _Size(1, 0, 1)

    def add(self, child: _Size) -> None:
        values, characters, height = self.size
        self.size = _Size(values + child.values, characters + child.characters, max(height, 1 + child.height))


class _Limits:
    """Counts what the document amounts to with aliases expanded, event by event.

    Runs over the parser's events before anything is composed, so a document past a limit
    costs no more than reading its text; the error names the line of the event that crossed it.
    """

    def __init__(self) -> None:
        self.anchors: dict[str, _Size] = {}
        self.open: list[_Frame] = []
        self.values = 0
        self.characters = 0

    def feed(self, event: yaml.Event) -> None:
        line = _line(event.start_mark)
        if isinstance(event, yaml.CollectionStartEvent):
            if len(self.open) >= MAX_DEPTH:
                raise YamlInputError(line, f"nested deeper than {MAX_DEPTH} levels")
            self.open.append(_Frame(event.anchor))
        elif isinstance(event, yaml.CollectionEndEvent):
            frame = self.open.pop()
            self._place(frame.size, frame.anchor)
            self._grow(1, 0, line, "the document has more than")  # its items counted themselves
        elif isinstance(event, yaml.ScalarEvent):
            self._place(_Size(1, len(event.value), 0), event.anchor)
            self._grow(1, len(event.value), line, "the document has more than")
        elif isinstance(event, yaml.AliasEvent):
            self._alias(str(event.anchor), line)

    def _alias(self, anchor: str, line: int | None) -> None:
        alias = f"alias *{anchor}"
        size = self.anchors.get(anchor)
        if size is None and any(frame.anchor == anchor for frame in self.open):
            raise YamlInputError(line, f"{alias} is used inside its own anchor: it would contain itself")
        if size is None:
            return  # an undefined alias: the composer says so
        if len(self.open) + size.height > MAX_DEPTH:
            raise YamlInputError(line, f"{alias} nests the document deeper than {MAX_DEPTH} levels")
        self._place(size, None)
        self._grow(size.values, size.characters, line, f"{alias} expands the document past")

    def _place(self, size: _Size, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = size
        if self.open:
            self.open[-1].add(size)

    def _grow(self, values: int, characters: int, line: int | None, what: str) -> None:
        self.values += values
        self.characters += characters
        if self.values > MAX_VALUES:
            raise YamlInputError(line, f"{what} {MAX_VALUES:,} values (aliases expanded)")
        if self.characters > MAX_EXPANDED_CHARACTERS:
            raise YamlInputError(line, f"{what} {MAX_EXPANDED_CHARACTERS:,} characters (aliases expanded)")


def _line(mark: Any) -> int | None:
    return None if mark is None else int(mark.line) + 1


def _construct(node: yaml.Node, loader: yaml.SafeLoader, path: FieldPath) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError:
        raise
    except Exception as exc:  # a date 2020-02-30, a 5000-digit integer, !!bool maybe…
        detail = f": {exc}" if isinstance(exc, (ValueError, OverflowError)) else ""
        message = f"cannot read this value as {str(node.tag).rsplit(':', 1)[-1]}{detail}"
        raise YamlInputError(_line(node.start_mark), message, path) from None


def _to_python(
    node: yaml.Node,
    loader: yaml.SafeLoader,
    path: FieldPath,
    lines: LineMap,
    duplicates: list[tuple[FieldPath, int]],
) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                message = "a mapping key must be plain text or a number, not a list or mapping"
                raise YamlInputError(_line(key_node.start_mark), message, path)
            key = _construct(key_node, loader, path)
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
    return _construct(node, loader, path)


def load_yaml_with_lines(text: str) -> tuple[Any, LineMap, list[tuple[FieldPath, int]]]:
    """Parse one YAML document; return the data, a path → line map and duplicate keys.

    Raises ``yaml.YAMLError`` on a syntax error (its ``problem_mark`` has the position) and
    :class:`YamlInputError` on a document too large or deep, or a value that cannot be read.
    """
    if len(text) > MAX_SIZE:
        raise YamlInputError(None, f"has {len(text):,} characters; a rubric may have at most {MAX_SIZE:,}")
    try:
        return _load(text, _READER)
    except yaml.YAMLError:
        if _READER is _PyReader or len(text) > _PYYAML_WORDING_UP_TO:
            raise
    return _load(text, _PyReader)


def _load(text: str, reader: Any) -> tuple[Any, LineMap, list[tuple[FieldPath, int]]]:
    limits = _Limits()
    for event in yaml.parse(text, Loader=reader):
        limits.feed(event)
    loader = reader(text)
    try:
        node = loader.get_single_node()
        lines: LineMap = {}
        duplicates: list[tuple[FieldPath, int]] = []
        data = None if node is None else _to_python(node, loader, (), lines, duplicates)
        return data, lines, duplicates
    except RecursionError:  # not reachable within MAX_DEPTH; kept so no input escapes as one
        raise YamlInputError(None, f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
