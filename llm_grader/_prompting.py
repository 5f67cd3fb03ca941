"""Prompt compilation — pure functions; all the text lives in ``prompts/<language>/``.

Message layout (documented order, so providers' prefix caching applies):

1. ``system`` — grader role and rules (judge the agent, quote verbatim, the transcript and
   every other fenced block is data and instructions inside it are ignored); the same for
   every item of a rubric.
2. ``user`` — the rubric's ``context`` (business scene, tools, remit, house policies), the
   transcript (turns numbered from 1 with speaker and time), the agent's notes and the
   conversation's ``knowledge`` (reference answers, knowledge-base snippets), each inside a
   backtick fence longer than any backtick run in all of them, so nothing in one can close it.
3. ``user`` — the item block: name, description, tiers with descriptors (points only when
   asked: ``show_points``; they are applied afterwards by rule), notes, the not-applicable
   condition, what to do when unsure (the item's ``when_unsure``), worked examples, the
   conversation fields the item declares (``context``: metadata values in a fence of their
   own), for a hybrid item what its rules found (facts), and the flags to answer.

1 and 2 are byte-identical for all items of a conversation; only 3 differs. The answer
schema (tools / response_format, sent before the messages) is shared by all items too
(``answers.answer_model``), so a conversation's requests agree up to the item block.
Grouped judging sends several item blocks in message 3 (:func:`compile_group_messages`).
Sample ``k`` of an item (``--samples > 1``) lists its tiers in a deterministic permutation
seeded by ``k`` (:func:`tier_order`); sample 0 keeps the rubric's order, so single-sample
prompts (and their cached answers) do not depend on sampling.

A language's prompts are four ``string.Template`` files (``system``, ``transcript``,
``item``, ``deduction``), whose placeholders are checked when loaded, and ``text.yaml``:
the short pieces they are filled with, the field descriptions of the response schema and
the re-ask messages.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from ._data import data_dir
from ._grounding import context_section, examples_section, facts_section, fence_for
from .conversation import Conversation, normalise_line_breaks
from .errors import LLMGraderError
from .rubric import Item, Rubric, Tier

_REQUIRED = {
    # No rubric version here: a new version whose item is unchanged must send the same
    # messages, so its answers come from the cache.
    "system": {"rubric_name", "channel_name", "fence"},
    "transcript": {
        "turn_count",
        "time_note",
        "fence",
        "transcript",
        "notes_block",
        "context_block",
        "knowledge_block",
    },
    "item": {
        "item_name",
        "item_id",
        "points_note",
        "description",
        "tiers",
        "notes",
        "not_applicable",
        "unsure",
        "flags",
        "examples",
        "context",
        "facts",
    },
    "deduction": {
        "item_name",
        "item_id",
        "points_note",
        "severe_note",
        "description",
        "notes",
        "not_applicable",
        "unsure",
        "examples",
        "context",
    },
}

_OPTIONAL = {
    # The output contract moved to the system message (shared by every item, so it is part
    # of the cached prefix); templates written for older versions may still place it here.
    # ``item_points`` / ``deduction_points``: the bare points, for templates that show them
    # whatever ``show_points`` says.
    "item": {"output", "item_points"},
    "deduction": {"deduction_points"},
}

_TEXT_KEYS = {
    "speakers": {"agent", "customer", "system"},
    "channels": {"chat", "call"},
    "transcript": {"times", "clock", "notes_block", "context_block", "knowledge_block"},
    "item": {
        "tier",
        "notes",
        "na",
        "na_full",
        "na_exclude",
        "flags",
        "output",
        "flags_field",
        "severe",
        "group",
        "checks",
        "checks_na",
        "checks_rule",
        "examples",
        "example",
        "example_tier",
        "example_occurrence",
        "example_quotes",
        "example_quote",
        "example_why",
        "separator",
        "context",
        "context_notes",
        "context_no_notes",
        "context_knowledge",
        "context_no_knowledge",
        "context_metadata",
        "metadata_missing",
        "facts",
        "fact",
        "fact_fired",
        "facts_decided",
        "unsure_strict",
        "unsure_lenient",
        "unsure_review",
        "tier_no_points",
        "points_item",
        "points_deduction",
    },
    "fields": {
        "turn",
        "quote",
        "evidence",
        "rationale",
        "tier",
        "flags",
        "occurrences",
        "severe",
        "item_id",
        "answers",
        "cannot_determine_reason",
        "flag_evidence",
        "flag_answer",
        "checks",
        "passed",
    },
    "reask": {
        "bad_quotes",
        "empty",
        "quote",
        "tier",
        "flags",
        "no_flags",
        "unsure_reason",
        "checks",
        "no_checks",
        "check_evidence",
    },
    "quote_reasons": {"empty", "bad_turn", "no_content", "too_short", "missing", "wrong_speaker"},
}


@dataclass(frozen=True)
class PromptTemplate:
    """A ``string.Template`` file whose placeholders are checked when it is loaded."""

    name: str
    text: str

    @classmethod
    def from_text(
        cls, text: str, *, name: str, required: set[str], optional: frozenset[str] = frozenset()
    ) -> PromptTemplate:
        """Check the placeholders: an unknown or a missing one fails, naming all of them."""
        found = {m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text)} - {
            None
        }
        unknown, missing = sorted(found - required - optional), sorted(required - found)
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"unknown variables: {', '.join(unknown)}")
            if missing:
                parts.append(f"missing variables: {', '.join(missing)}")
            raise LLMGraderError(f"prompt template {name}: {'; '.join(parts)}")
        return cls(name=name, text=text)

    @classmethod
    def from_file(
        cls, path: Path, *, required: set[str], optional: frozenset[str] = frozenset()
    ) -> PromptTemplate:
        """Load and check a template file."""
        return cls.from_text(
            path.read_text(encoding="utf-8"), name=str(path), required=required, optional=optional
        )

    def render(self, **values: object) -> str:
        """Fill the placeholders (``$$`` is a literal dollar)."""
        return string.Template(self.text).substitute({k: str(v) for k, v in values.items()})


def _load_text(path: Path) -> dict[str, dict[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems = []
    for section, keys in _TEXT_KEYS.items():
        have = data.get(section) if isinstance(data, dict) else None
        missing = sorted(keys - set(have or {}))
        if missing:
            problems.append(f"{section}: missing {', '.join(missing)}")
    if problems:
        raise LLMGraderError(f"prompt text {str(path)!r}: {'; '.join(problems)}")
    return {section: {k: str(v) for k, v in data[section].items()} for section in _TEXT_KEYS}


@dataclass(frozen=True)
class Prompts:
    """One language's prompts: the four templates and the text pieces (``text.yaml``)."""

    language: str
    system: PromptTemplate
    transcript: PromptTemplate
    item: PromptTemplate
    deduction: PromptTemplate
    text: dict[str, dict[str, str]]
    """``text.yaml`` by section: speakers, channels, transcript, item, fields, reask, quote_reasons."""

    @classmethod
    def load(cls, language: str, directory: Path | None = None) -> Prompts:
        """Load ``<directory>/<language>/`` (default: the shipped prompts)."""
        base = (directory or data_dir("prompts")) / language
        if not base.is_dir():
            raise LLMGraderError(f"no prompts for language {language!r} in {str(base.parent)!r}")
        templates = {
            name: PromptTemplate.from_file(
                base / f"{name}.txt", required=required, optional=frozenset(_OPTIONAL.get(name, ()))
            )
            for name, required in _REQUIRED.items()
        }
        return cls(language=language, text=_load_text(base / "text.yaml"), **templates)

    def word(self, section: str, key: str, **values: object) -> str:
        """One text piece, ``str.format`` placeholders filled."""
        piece = self.text[section][key]
        return piece.format(**values) if values else piece


def _clock(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _render_notes(notes: str) -> str:
    """The notes as the model reads them: every line indented like a turn's continuation lines.

    So no text in the notes (``## 系统``, ``[99] 客服:``) starts a line of its own: the notes
    cannot pass for a heading, a message part or a turn of the transcript.
    """
    return "  " + normalise_line_breaks(notes).replace("\n", "\n  ")


def render_transcript(conversation: Conversation, prompts: Prompts) -> tuple[str, str]:
    """The numbered transcript and its fence. Continuation lines of a turn are indented."""
    lines = []
    for number, turn in enumerate(conversation.turns, start=1):
        when = ""
        if turn.start is not None:
            if conversation.started_at is not None:
                when = " " + (conversation.started_at + timedelta(seconds=turn.start)).strftime("%H:%M:%S")
            else:
                when = " " + _clock(turn.start)
        # Every line break (normalised again here: a turn may be built without validation, e.g.
        # by ``model_copy``) starts an indented continuation, so no text begins a line of its own.
        text = normalise_line_breaks(turn.text).replace("\n", "\n  ")
        lines.append(f"[{number}] {prompts.word('speakers', turn.speaker)}{when}: {text}")
    body = "\n".join(lines)
    return body, fence_for(body + "\n" + (conversation.notes or ""))


def tier_order(item: Item, sample: int = 0) -> list[Tier]:
    """``item``'s tiers in the order sample ``sample`` sees them.

    Sample 0: the rubric's order. Sample k > 0: a permutation seeded by k alone (the same for
    every item of that many tiers, every run), never the rubric's own order when there is
    another — so a position bias of the model does not fall on the same tier in every sample.
    """
    tiers = list(item.tiers)
    if sample <= 0 or len(tiers) < 2:
        return tiers
    shuffled = random.Random(sample).sample(tiers, len(tiers))
    if shuffled == tiers:
        shuffled = shuffled[1:] + shuffled[:1]
    return shuffled


def _tier_lines(item: Item, prompts: Prompts, *, show_points: bool, sample: int) -> str:
    return "\n".join(
        prompts.word(
            "item",
            "tier" if show_points else "tier_no_points",
            id=t.id,
            label=t.display,
            points=f"{item.tier_points(t):g}",
            description=t.description or t.display,
        )
        for t in tier_order(item, sample)
    )


def _common(item: Item, conversation: Conversation, prompts: Prompts) -> dict[str, str]:
    notes = ""
    if item.notes:
        notes = prompts.word("item", "notes", lines="\n".join(f"- {n}" for n in item.notes))
    na = ""
    if item.not_applicable is not None:
        policy = prompts.word("item", "na_full" if item.not_applicable.policy == "full" else "na_exclude")
        na = prompts.word("item", "na", when=item.not_applicable.when, policy=policy)
    return {
        "item_name": item.name,
        "item_id": item.id,
        "description": item.description + "\n" if item.description else "",
        "notes": notes,
        "not_applicable": na,
        "unsure": prompts.word("item", f"unsure_{item.when_unsure}"),
        "examples": examples_section(item, prompts.word),
        "context": context_section(item, conversation, prompts.word),
    }


def _item_block(
    item: Item,
    conversation: Conversation,
    rubric: Rubric,
    prompts: Prompts,
    *,
    sample: int = 0,
    show_points: bool | None = None,
) -> str:
    common = _common(item, conversation, prompts)
    shown = rubric.show_points if show_points is None else show_points
    if item.deduction is not None:
        severe = prompts.word("item", "severe") if item.deduction.severe_multiplier != 1 else ""
        points = f"{item.deduction.points:g}"
        note = prompts.word("item", "points_deduction", points=points) if shown else ""
        block = prompts.deduction.render(
            **common, points_note=note, deduction_points=points, severe_note=severe
        )
        return block.rstrip() + "\n"
    flags = ""
    if item.flags:
        flags = prompts.word(
            "item", "flags", lines="\n".join(f"- {f.id}: {f.description}" for f in item.flags)
        )
    output = prompts.word(
        "item", "output", flags_field=prompts.word("item", "flags_field") if item.flags else ""
    )
    points = f"{item.max_points:g}"
    block = prompts.item.render(
        **common,
        points_note=prompts.word("item", "points_item", points=points) if shown else "",
        item_points=points,
        tiers=_tier_lines(item, prompts, show_points=shown, sample=sample),
        facts=facts_section(item, conversation, prompts.word, language=rubric.language),
        flags=flags,
        output=output,
    )
    return block.rstrip() + "\n" + _checks_block(item, prompts)


def _checks_block(item: Item, prompts: Prompts) -> str:
    """A decomposed item's checks, each ``- id: question`` (empty for an item without checks)."""
    if not item.checks:
        return ""
    lines = "\n".join(f"- {check.id}: {check.question}" for check in item.checks)
    na = prompts.word("item", "checks_na") if item.not_applicable is not None else ""
    return prompts.word("item", "checks", lines=lines, na=na).rstrip() + "\n"


def shared_messages(*, rubric: Rubric, conversation: Conversation, prompts: Prompts) -> list[dict[str, str]]:
    """The system and transcript messages: the same for every item of a conversation.

    The rubric's ``context`` and the conversation's ``knowledge`` are here (not in the item
    block), so every request of a conversation shares them in the cached prefix.
    """
    transcript, fence = render_transcript(conversation, prompts)
    context = normalise_line_breaks(rubric.context).strip()
    knowledge = (
        normalise_line_breaks(conversation.knowledge or "").strip() if conversation.has_knowledge else ""
    )
    # One fence for every block of the message: longer than any backtick run in any of them.
    fence = max(fence, fence_for(f"{context}\n{knowledge}"), key=len)
    time_note = ""
    if conversation.has_timestamps:
        time_note = prompts.word("transcript", "clock" if conversation.started_at is not None else "times")
    system = prompts.system.render(
        rubric_name=rubric.name,
        channel_name=prompts.word("channels", conversation.channel),
        fence=fence,
    )
    notes = ""
    if conversation.has_notes:
        notes = prompts.word(
            "transcript",
            "notes_block",
            fence=fence,
            notes=_render_notes(conversation.notes or ""),
        )
    context_block = (
        prompts.word("transcript", "context_block", fence=fence, context=context) if context else ""
    )
    knowledge_block = (
        prompts.word("transcript", "knowledge_block", fence=fence, knowledge=knowledge) if knowledge else ""
    )
    shown = prompts.transcript.render(
        turn_count=len(conversation.turns),
        time_note=time_note,
        fence=fence,
        transcript=transcript,
        notes_block=notes,
        context_block=context_block,
        knowledge_block=knowledge_block,
    )
    if any(item.checks for _, item in rubric.items()):  # how checks are answered: shared, cached
        system = system.rstrip() + "\n" + prompts.word("item", "checks_rule")
    return [
        {"role": "system", "content": system.rstrip() + "\n"},
        {"role": "user", "content": shown.rstrip() + "\n"},
    ]


def compile_messages(
    *,
    rubric: Rubric,
    item: Item,
    conversation: Conversation,
    prompts: Prompts | None = None,
    shared: list[dict[str, str]] | None = None,
    sample: int = 0,
    show_points: bool | None = None,
) -> list[dict[str, str]]:
    """The chat messages for one item of one conversation (see the module docstring).

    ``shared``: the conversation's :func:`shared_messages`, when already rendered. ``sample``:
    which sample the request is (its tier order, :func:`tier_order`). ``show_points``: show
    each tier's points (None: the rubric's ``show_points``, off by default).
    """
    prompts = prompts or Prompts.load(rubric.language)
    shared = shared or shared_messages(rubric=rubric, conversation=conversation, prompts=prompts)
    block = _item_block(item, conversation, rubric, prompts, sample=sample, show_points=show_points)
    return [*shared, {"role": "user", "content": block}]


def compile_group_messages(
    *,
    rubric: Rubric,
    items: list[Item],
    conversation: Conversation,
    prompts: Prompts | None = None,
    shared: list[dict[str, str]] | None = None,
    sample: int = 0,
    show_points: bool | None = None,
) -> list[dict[str, str]]:
    """The chat messages asking for several items in one call (grouped judging).

    The same system and transcript messages as one item's, then one message with every
    item's block and the instruction to answer each in ``answers``. ``sample`` and
    ``show_points`` as for :func:`compile_messages`.
    """
    prompts = prompts or Prompts.load(rubric.language)
    shared = shared or shared_messages(rubric=rubric, conversation=conversation, prompts=prompts)
    blocks = "\n".join(
        _item_block(item, conversation, rubric, prompts, sample=sample, show_points=show_points)
        for item in items
    )
    ask = prompts.word("item", "group", n=len(items), ids=", ".join(item.id for item in items))
    return [*shared, {"role": "user", "content": f"{blocks}\n{ask}\n"}]


def prompt_hash(messages: list[dict[str, str]], schema: dict[str, Any]) -> str:
    """A short stable hash of the messages and response schema (kept on each graded item)."""
    canonical = json.dumps(
        {"messages": messages, "schema": schema}, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
