"""What the development part proposes per item: few-shot examples and tier-wording suggestions.

A *disagreement* is a conversation where the model's tier differs from the humans'
adjudicated one (:func:`~.split.adjudicated_tiers`). Each becomes a candidate example: the
humans' tier, a short excerpt of the conversation as the model was shown it (masked), and
the decisive words — the model's evidence quotes, kept only when they occur in the
transcript turn they cite and in the excerpt. The tier descriptions the disagreements point
at are *suggestions*: text for the user to consider, never written into the rubric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from .._messages import text
from ..calibration._shared import item_scale, model_value
from ..conversation import Conversation
from ..rubric import Example, Item, Rubric
from ..scoring import ItemResult, Scorecard
from ..types import NOT_APPLICABLE
from ._split import Adjudicated

_SPEAKER = {"agent": "cli.align_agent", "customer": "cli.align_customer", "system": "cli.align_system"}
_TURNS = 6
"""Most turns in an excerpt."""
_CONTEXT = 50
"""Characters kept either side of a quote (the rest of a long turn is cut with …)."""
_HEAD = 80
"""Characters kept of a turn without a quote."""

_Found = tuple[str, str, Adjudicated]
"""A disagreement: conversation id, the model's tier, the humans' settled tier."""


class ProposedExample(BaseModel):
    """An example drawn from one adjudicated disagreement."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str
    model_tier: str
    """What the model answered."""
    source: str
    """``raters`` (the humans agreed) or ``review`` (a reviewer's verdict)."""
    example: Example


class Suggestion(BaseModel):
    """Tier descriptions a group of disagreements points at (for the user; never applied)."""

    model_config = ConfigDict(extra="forbid")

    model_tier: str
    human_tier: str
    conversations: list[str]
    descriptions: dict[str, str]
    """tier id → its current description (the two tiers the model confused)."""
    text: str
    """The suggestion in the rubric's language."""


class ItemProposal(BaseModel):
    """What the development part proposes for one item."""

    model_config = ConfigDict(extra="forbid")

    item_id: str
    name: str
    compared: int
    """Development conversations with an adjudicated tier and a model tier."""
    disagreements: int
    examples: list[ProposedExample] = Field(default_factory=list)
    suggestions: list[Suggestion] = Field(default_factory=list)


def _cut(turn_text: str, quote: str | None) -> str:
    """A turn's text shortened: around the quote when there is one, else its head."""
    at = turn_text.find(quote) if quote else -1
    if at < 0:
        return turn_text if len(turn_text) <= _HEAD else turn_text[:_HEAD] + "…"
    start, end = max(0, at - _CONTEXT), min(len(turn_text), at + len(quote or "") + _CONTEXT)
    return ("…" if start else "") + turn_text[start:end] + ("…" if end < len(turn_text) else "")


def excerpt(conversation: Conversation, result: ItemResult, language: str) -> tuple[str, list[str]]:
    """A few turns around the model's evidence (the first turns without any), and the quotes kept.

    A quote is kept when the model's evidence was verified, the quote occurs in the turn it
    cites and in the excerpt (no cut runs through it).
    """
    turns = conversation.turns
    found = [
        (e.turn, e.quote)
        for e in result.evidence
        if e.verified and 1 <= e.turn <= len(turns) and e.quote and e.quote in turns[e.turn - 1].text
    ]
    if found:
        first = min(t for t, _ in found)
        start = max(1, first - 1)
    else:
        start = 1
    end = min(len(turns), start + _TURNS - 1)
    quote_at = {t: q for t, q in reversed(found)}
    lines = []
    for n in range(start, end + 1):
        turn = turns[n - 1]
        shown = _cut(" ".join(turn.text.split()), quote_at.get(n))
        lines.append(f"{text(_SPEAKER[turn.speaker], language)}: {shown}")
    body = "\n".join(lines)
    quotes = list(dict.fromkeys(q for t, q in found if start <= t <= end and q in body))
    return body, quotes


def _label(item: Item, tier: str, language: str) -> str:
    if tier == NOT_APPLICABLE:
        return NOT_APPLICABLE
    return next((t.display for t in item.tiers if t.id == tier), tier)


def _why(item: Item, settled: Adjudicated, language: str) -> str:
    label = _label(item, settled.tier, language)
    if settled.source == "review":
        return text("cli.align_why_review", language, label=label, reason=settled.reason or "—")
    return text("cli.align_why_raters", language, n=settled.raters, label=label)


def _description(item: Item, tier: str) -> str:
    if tier == NOT_APPLICABLE:
        return item.not_applicable.when if item.not_applicable is not None else ""
    return next((t.description for t in item.tiers if t.id == tier), "")


def _suggestions(item: Item, found: Sequence[_Found], language: str) -> list[Suggestion]:
    """One suggestion per (model tier, human tier) the disagreements share, most frequent first."""
    groups: dict[tuple[str, str], list[str]] = {}
    for cid, model, settled in found:
        groups.setdefault((model, settled.tier), []).append(cid)
    out = []
    for (model, human), ids in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        descriptions = {human: _description(item, human), model: _description(item, model)}
        words = text(
            "cli.align_suggestion",
            language,
            n=len(ids),
            model=_label(item, model, language),
            human=_label(item, human, language),
            ids=", ".join(ids[:6]) + (" …" if len(ids) > 6 else ""),
            human_text=descriptions[human] or "—",
            model_text=descriptions[model] or "—",
        )
        out.append(
            Suggestion(
                model_tier=model, human_tier=human, conversations=ids, descriptions=descriptions, text=words
            )
        )
    return out


def _chosen(item: Item, found: Sequence[_Found], cards: Mapping[str, Scorecard], most: int) -> list[_Found]:
    """Up to ``most`` disagreements: the largest tier gaps first, one per human tier before a second."""
    labels = item_scale(item)[0]

    def gap(model: str, tier: str) -> int:
        if model not in labels or tier not in labels:
            return len(labels)
        return abs(labels.index(model) - labels.index(tier))

    ranked = sorted(
        found,
        key=lambda f: (
            -gap(f[1], f[2].tier),
            not cards[f[0]].item(item.id).evidence,
            f[2].source != "review",
            f[0],
        ),
    )
    chosen: list[_Found] = []
    seen: set[str] = set()
    for f in ranked:  # first pass: one per human tier
        if len(chosen) < most and f[2].tier not in seen:
            chosen.append(f)
            seen.add(f[2].tier)
    chosen += [f for f in ranked if f not in chosen][: most - len(chosen)]
    return chosen


def propose(
    rubric: Rubric,
    cards: Sequence[Scorecard],
    shown: Mapping[str, Conversation],
    adjudicated: Mapping[str, Mapping[str, Adjudicated]],
    *,
    max_examples: int = 2,
) -> list[ItemProposal]:
    """Per model-judged tiered item: its disagreements on ``cards``, the examples and suggestions.

    ``shown``: conversation id → the conversation as the model was shown it (masked); the
    examples are cut from it. Items the humans did not score are left out.
    """
    language = rubric.language
    by_id = {c.conversation_id: c for c in cards}
    out = []
    for _, item in rubric.items():
        if item.judge != "model" or item.is_deduction or item.id not in adjudicated:
            continue
        found: list[_Found] = []
        compared = 0
        for cid, settled in sorted(adjudicated[item.id].items()):
            if cid not in by_id or cid not in shown:
                continue
            model = model_value(by_id[cid], item.id)
            if model is None:  # a failed call is not a disagreement
                continue
            compared += 1
            if model != settled.tier:
                found.append((cid, model, settled))
        examples = []
        allowed = {t.id for t in item.tiers} | ({NOT_APPLICABLE} if item.not_applicable else set())
        usable = [f for f in found if f[2].tier in allowed]  # an example's tier must be the item's
        for cid, model, settled in _chosen(item, usable, by_id, max_examples):
            body, quotes = excerpt(shown[cid], by_id[cid].item(item.id), language)
            example = Example(text=body, tier=settled.tier, why=_why(item, settled, language), quotes=quotes)
            examples.append(
                ProposedExample(conversation_id=cid, model_tier=model, source=settled.source, example=example)
            )
        out.append(
            ItemProposal(
                item_id=item.id,
                name=item.name,
                compared=compared,
                disagreements=len(found),
                examples=examples,
                suggestions=_suggestions(item, found, language),
            )
        )
    return out
