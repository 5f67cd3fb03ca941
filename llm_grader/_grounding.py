"""The item-block sections that ground a judgement: examples, fields shown, rule facts.

Worked examples, the conversation fields an item shows, and what a hybrid item's rules found.

Pure functions of the rubric item and the conversation; the words come from the language's
``text.yaml`` through ``word`` (:meth:`llm_grader._prompting.Prompts.word`). The prompt's
layout is :mod:`llm_grader._prompting`'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ._rules import judge_rule
from .conversation import Conversation, normalise_line_breaks
from .rubric import Example, Item

Word = Callable[..., str]
"""``word(section, key, **values)``: one text piece of the prompts, placeholders filled."""


def fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run in ``text`` (at least 3): nothing in it closes it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def indented(text: str) -> str:
    """``text`` with every line after the first indented, as a turn's continuation lines are."""
    return normalise_line_breaks(text).replace("\n", "\n  ")


def examples_section(item: Item, word: Word) -> str:
    """The item's worked examples: per example its verdict, its text, the key words and why."""
    if not item.examples:
        return ""
    labels = {t.id: t.display for t in item.tiers}
    blocks = []
    for n, example in enumerate(item.examples, start=1):
        verdict = _example_verdict(item, example, labels, word)
        lines = [word("item", "example", n=n, verdict=verdict), "  " + indented(example.text)]
        if example.quotes:
            quotes = word("item", "separator").join(
                word("item", "example_quote", quote=q) for q in example.quotes
            )
            lines.append(word("item", "example_quotes", quotes=quotes))
        if example.why:
            lines.append(word("item", "example_why", why=indented(example.why)))
        blocks.append("\n".join(lines))
    return word("item", "examples", lines="\n".join(blocks))


def _example_verdict(item: Item, example: Example, labels: dict[str, str], word: Word) -> str:
    if item.is_deduction:
        return word("item", "example_occurrence")
    if example.tier is None:
        return ""
    return word("item", "example_tier", id=example.tier, label=labels.get(example.tier, example.tier))


def _metadata_value(value: Any, word: Word) -> str:
    if value in (None, "", [], {}):
        return word("item", "metadata_missing")
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return indented(shown)


def context_section(item: Item, conversation: Conversation, word: Word) -> str:
    """The conversation fields the item declares: pointers to notes/knowledge, metadata values."""
    if not item.context:
        return ""
    lines = []
    if "notes" in item.context:
        lines.append(word("item", "context_notes" if conversation.has_notes else "context_no_notes"))
    if "knowledge" in item.context:
        has = conversation.has_knowledge
        lines.append(word("item", "context_knowledge" if has else "context_no_knowledge"))
    keys = [f.removeprefix("metadata.") for f in item.context if f.startswith("metadata.")]
    if keys:
        values = "\n".join(f"{k}: {_metadata_value(conversation.metadata.get(k), word)}" for k in keys)
        lines.append(word("item", "context_metadata", fence=fence_for(values), lines=values))
    return word("item", "context", lines="\n".join(lines))


def facts_section(item: Item, conversation: Conversation, word: Word, *, language: str) -> str:
    """For a hybrid item: what its rules found, and the tier when one of them decided it."""
    if not item.decide_by_rule:
        return ""
    labels = {t.id: t.display for t in item.tiers}
    lines, decided = [], ""
    for finding, tier in rule_findings(item, conversation, language=language):
        if tier is None:
            lines.append(word("item", "fact", finding=indented(finding)))
            continue
        label = labels.get(tier, tier)
        lines.append(word("item", "fact_fired", finding=indented(finding), id=tier, label=label))
        decided = word("item", "facts_decided", id=tier, label=label)
    return word("item", "facts", lines="\n".join(lines)) + decided


def rule_findings(
    item: Item, conversation: Conversation, *, language: str = "zh"
) -> list[tuple[str, str | None]]:
    """What a hybrid's rules find: per rule tried, its finding in words and its tier if it fires.

    The rules are tried in order as :func:`~llm_grader._rules.judge_hybrid` tries them: each
    measured as a rule item would be, up to the first whose thresholds hold (it fires); a rule
    that cannot measure gives the reason. These are the facts given to the model.
    """
    found: list[tuple[str, str | None]] = []
    for rule in item.decide_by_rule:
        judged = judge_rule(item.model_copy(update={"rule": rule}), conversation, language=language)
        fired = judged.error is None  # a threshold held
        found.append((judged.rationale or judged.error or "", judged.tier if fired else None))
        if fired:
            break
    return found
