"""All user-facing text, in catalogs by audience and language: ``llm_grader/locales/``.

One YAML file per audience and language — ``rules`` (rationales written by rules and the
grader), ``cli`` (the command line), ``report`` (the results page and the calibration
report), ``review`` (the review pages) — each ``{audience}.{language}.yaml``, one
``key: "text"`` a line. Every language has the same keys, a key's area (its first dotted
part) says which audience's file holds it, and the placeholders are ``str.format`` fields
(``{name}``, ``{share:.0%}``): every placeholder of the Chinese text is in every
language's (English may add one, for a plural word). The catalogs are checked
when first loaded: a missing, duplicated or misplaced key, or placeholders that differ
between the languages, fail with the file and line. :func:`text` picks the language (an
unknown language falls back to Chinese, the seed scorecards' language) and fills the
placeholders. Text that is sent *to the model* is prompt text and lives in
``prompts/<language>/`` instead.

Adding a message is one line in each language's file of its audience.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final, NamedTuple

from .errors import LLMGraderError

LANGUAGES: Final = ("zh", "en")
"""The languages every message has."""

AUDIENCES: Final[dict[str, tuple[str, ...]]] = {
    "rules": ("grader", "na", "rule", "pattern"),
    "cli": ("cli", "explain", "gate", "export"),
    "report": ("report",),
    "review": ("review",),
}
"""Each catalog's audience and the key areas (first dotted part of a key) it holds."""

CATALOG_DIR: Final = Path(__file__).resolve().parent / "locales"
"""Where the catalogs are: ``{audience}.{language}.yaml``, inside the package (so in the wheel)."""

_AREA = {area: audience for audience, areas in AUDIENCES.items() for area in areas}


class Message(NamedTuple):
    """One message in both languages."""

    zh: str
    en: str


def placeholders(template: str) -> set[str]:
    """The ``str.format`` field names of ``template``; a field that is not a plain name fails."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field is None:
            continue
        if not field.isidentifier():
            raise ValueError(f"placeholder {{{field}}} is not a name (write {{name}})")
        names.add(field)
    return names


def catalog_files() -> dict[tuple[str, str], Path]:
    """Every catalog file, by (audience, language)."""
    return {(a, lang): CATALOG_DIR / f"{a}.{lang}.yaml" for a in AUDIENCES for lang in LANGUAGES}


def _read(path: Path) -> dict[str, tuple[str, int]]:
    """One catalog file: key → (text, line), checked to be a flat mapping of strings."""
    import yaml

    try:
        # libyaml's parser when PyYAML has it: the same nodes and marks, many times faster.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, yaml.YAMLError) as exc:
        raise LLMGraderError(f"message catalog {path}: {exc}") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise LLMGraderError(f"message catalog {path}: expected a mapping of key: text")
    found: dict[str, tuple[str, int]] = {}
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1
        key = key_node.value
        if not isinstance(value_node, yaml.ScalarNode) or value_node.tag != "tag:yaml.org,2002:str":
            raise LLMGraderError(f"{path}:{line}: {key}: the text must be a string")
        if key in found:
            raise LLMGraderError(f"{path}:{line}: {key}: duplicate key (first on line {found[key][1]})")
        found[key] = (value_node.value, line)
    return found


@functools.cache
def _catalogs() -> dict[str, dict[str, str]]:
    """Every language's messages, checked across audiences and languages."""
    loaded: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    where: dict[str, dict[str, tuple[Path, int]]] = {lang: {} for lang in LANGUAGES}
    for (audience, lang), path in catalog_files().items():
        for key, (value, line) in _read(path).items():
            area = key.split(".")[0]
            if _AREA.get(area) != audience:
                home = f"belongs in {_AREA[area]}.{lang}.yaml" if area in _AREA else "has an unknown area"
                raise LLMGraderError(f"{path}:{line}: {key}: {home}")
            try:
                placeholders(value)
            except ValueError as exc:
                raise LLMGraderError(f"{path}:{line}: {key}: {exc}") from None
            loaded[lang][key] = value
            where[lang][key] = (path, line)
    first, *others = LANGUAGES
    for lang in others:
        for a, b in ((first, lang), (lang, first)):
            for key in sorted(set(loaded[a]) - set(loaded[b])):
                path, line = where[a][key]
                raise LLMGraderError(f"{path}:{line}: {key}: missing in the {b} catalog")
        for key, value in loaded[lang].items():
            # Another language may add a placeholder (an English plural word), never drop one.
            lacking = placeholders(loaded[first][key]) - placeholders(value)
            if lacking:
                path, line = where[lang][key]
                raise LLMGraderError(
                    f"{path}:{line}: {key}: placeholders {sorted(lacking)} of the {first} text are missing"
                )
    return loaded


def catalog(language: str) -> Mapping[str, str]:
    """Every message of ``language`` (Chinese when unknown), by key."""
    catalogs = _catalogs()
    return catalogs.get(language, catalogs[LANGUAGES[0]])


def text(key: str, language: str = "zh", /, **values: object) -> str:
    """The message ``key`` in ``language`` (Chinese when unknown), placeholders filled."""
    template = catalog(language)[key]
    return template.format(**values) if values else template


class _Messages(Mapping[str, Message]):
    """Every message in both languages, by key (read from the catalogs when first used)."""

    def __getitem__(self, key: str) -> Message:
        catalogs = _catalogs()
        return Message(zh=catalogs["zh"][key], en=catalogs["en"][key])

    def __iter__(self) -> Iterator[str]:
        return iter(_catalogs()[LANGUAGES[0]])

    def __len__(self) -> int:
        return len(_catalogs()[LANGUAGES[0]])


MESSAGES: Final[Mapping[str, Message]] = _Messages()
"""Every message, by key (``area.name``), in both languages."""
