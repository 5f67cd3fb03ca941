"""The rubric checks about what the model is shown: worked examples, and conversation fields.

An example must fit its item (its tier is one of the item's; its quotes occur in its text);
an item whose wording names a metadata key must declare it in ``context``, so that the model
is shown the value it is asked to compare with (:func:`named_metadata` says how a key is
named). :mod:`.lint` reports these findings with the others.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Literal, NamedTuple

from .._yaml import FieldPath
from ..types import NOT_APPLICABLE
from ._card import Item, Rubric


class Finding(NamedTuple):
    """A problem a check found, at a field of the rubric."""

    path: FieldPath
    message: str
    severity: Literal["error", "warning"] = "error"


def example_problems(item: Item, path: FieldPath, siblings: frozenset[str]) -> Iterator[Finding]:
    """Each example's tier is one of the item's (none for a deduction); its quotes are in its text."""
    tiers = [t.id for t in item.tiers] + ([NOT_APPLICABLE] if item.not_applicable else [])
    for ei, example in enumerate(item.examples):
        where: FieldPath = (*path, "examples", ei)
        if example.tier is not None and item.is_deduction:
            yield Finding((*where, "tier"), "a deduction item's example is one occurrence: give it no tier")
        elif example.tier is not None and example.tier not in tiers:
            yield Finding(
                (*where, "tier"),
                f"unknown tier {example.tier!r}; the item's tiers: {', '.join(tiers)}",
            )
        text = _squeezed(example.text)
        for qi, quote in enumerate(example.quotes):
            if not _squeezed(quote) or _squeezed(quote) not in text:
                yield Finding((*where, "quotes", qi), f"{quote!r} does not occur in the example's text")


def _squeezed(text: str) -> str:
    """``text`` compared loosely: NFKC (full/half-width alike), whitespace dropped."""
    return "".join(unicodedata.normalize("NFKC", text).split())


_METADATA_KEY = re.compile(r"metadata\.([A-Za-z0-9_]+)")
_SNAKE_CASE = re.compile(r"(?<![A-Za-z0-9_.])([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+)(?![A-Za-z0-9_])")
FIELD_WORDS: dict[str, str] = {
    "工号": "agent_id",
    "坐席号": "agent_id",
    "job number": "agent_id",
    "agent id": "agent_id",
}
"""Words that name a metadata key (matched case-insensitively): the item must show that key."""


def named_metadata(text: str, ids: frozenset[str] = frozenset()) -> dict[str, str]:
    """The metadata keys ``text`` names, each with the words that name it.

    A key is named by ``metadata.KEY``; by a snake_case identifier (``agent_id``,
    ``praise_record``: letters and digits joined by at least one underscore, standing alone)
    that is not one of ``ids`` (the rubric's own ids) nor ``not_applicable``; or by a word of
    :data:`FIELD_WORDS` (``工号`` names ``agent_id``).
    """
    found: dict[str, str] = {}
    for match in _METADATA_KEY.finditer(text):
        found.setdefault(match.group(1), match.group(0))
    for match in _SNAKE_CASE.finditer(_METADATA_KEY.sub(" ", text)):
        if match.group(1) not in ids and match.group(1) != NOT_APPLICABLE:
            found.setdefault(match.group(1), match.group(1))
    lowered = text.lower()
    for word, key in FIELD_WORDS.items():
        if word in lowered:
            found.setdefault(key, word)
    return found


def _wording(item: Item) -> Iterator[tuple[FieldPath, str]]:
    """What the model reads of the item, by field (examples are excerpts of conversations: left out)."""
    yield ("name",), item.name
    yield ("description",), item.description
    for ti, tier in enumerate(item.tiers):
        yield ("tiers", ti, "description"), tier.description
    for ni, note in enumerate(item.notes):
        yield ("notes", ni), note
    for fi, flag in enumerate(item.flags):
        yield ("flags", fi, "description"), flag.description
    if item.not_applicable is not None:
        yield ("not_applicable", "when"), item.not_applicable.when


def unshown_fields(rubric: Rubric) -> Iterator[Finding]:
    """A model-judged item whose wording names a metadata key must show it (``context``)."""
    ids = frozenset(
        [c.id for c in rubric.categories]
        + [o.id for o in rubric.overrides]
        + [x for _, i in rubric.items() for x in (i.id, *(t.id for t in i.tiers), *(f.id for f in i.flags))]
    )
    for ci, category in enumerate(rubric.categories):
        for ii, item in enumerate(category.items):
            if item.judge != "model":
                continue
            path: FieldPath = ("categories", ci, "items", ii)
            reported: set[str] = set()
            for field, words in _wording(item):
                for key, named in named_metadata(words, ids).items():
                    if f"metadata.{key}" in item.context or key in reported:
                        continue
                    reported.add(key)
                    yield Finding(
                        (*path, *field),
                        f"names metadata.{key} ({named!r}), which the model is not shown: "
                        f"add it to the item's context (context: [metadata.{key}])",
                    )
