"""How a scorecard reads, in one place: pure functions of a Scorecard or ItemResult and a language.

The CLI table, ``grade --explain``, the results page and the review pages all write a
total, a tier, points and the fatal / zero-score state through these functions, so a
partial scorecard is shown as the range it can still take everywhere, never as a bare
number. Nothing here does I/O; every function returns text or a small frozen dataclass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from ._messages import text

if TYPE_CHECKING:
    from .conversation import Conversation
    from .scoring import ItemResult, Scorecard
    from .types import Evidence

OverrideKind = Literal["fatal", "zero_score"]

_OVERRIDE_NAMES: dict[str, str] = {"fatal": "report.fatal", "zero_score": "report.zero_score"}
"""The message naming each kind of override."""


def id_order(conversation_id: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a conversation id: runs of digits compare as numbers (``c2`` before ``c10``)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", conversation_id) if p)


def points_text(value: float | None) -> str:
    """Points as written: ≤ 2 decimals, no trailing zeros (``1.5``, ``94.44``), ``−2``, never ``-0``."""
    if value is None or math.isnan(value):
        return "—"
    shown = f"{abs(value):.2f}".rstrip("0").rstrip(".")
    return shown if shown == "0" or value > 0 else f"−{shown}"


def total_text(card: Scorecard, language: str) -> str:
    """The total: ``87.5 / 100``, or for a partial card ``部分 45–95 / 100`` — never a bare number."""
    maximum = points_text(card.max_score)
    if card.complete and card.total_score is not None:
        return text("report.total", language, score=points_text(card.total_score), points=maximum)
    if card.total_min is None or card.total_max is None:
        return text("report.partial_unknown", language, points=maximum)
    low, high = points_text(card.total_min), points_text(card.total_max)
    return text("report.partial", language, low=low, high=high, points=maximum)


def sort_total(card: Scorecard) -> float | None:
    """What sorting by total uses: the total, or for a partial scorecard the lowest it can still be."""
    return card.total_score if card.complete else card.total_min


@dataclass(frozen=True)
class OverrideState:
    """Whether a fatal (or zero-score) override fired: yes, no, or undetermined with what blocks it."""

    kind: str
    state: bool | None
    """True: fired; False: did not; None: undetermined (an item it needs is unscored)."""
    name: str
    """The kind, named in the language (``致命差错``)."""
    text: str
    """``是`` / ``否`` / ``待定 (待评项:…)``."""
    blocking: tuple[str, ...]


def override_state(card: Scorecard, kind: OverrideKind, language: str) -> OverrideState:
    """The state of ``card``'s fatal or zero-score override, written out."""
    state: bool | None = card.fatal if kind == "fatal" else card.zero_score
    blocking = tuple(dict.fromkeys(i for p in card.pending_overrides if p.kind == kind for i in p.blocking))
    key = "report.yes" if state else "report.no" if state is False else "report.undetermined"
    label = text(key, language)
    if state is None and blocking:
        label += f" ({text('report.blocked_by', language, items=', '.join(blocking))})"
    return OverrideState(kind, state, text(_OVERRIDE_NAMES[kind], language), label, blocking)


def pending_overrides(card: Scorecard) -> dict[str, list[str]]:
    """The undetermined overrides by kind, with the items they wait for (each once, in order)."""
    pending: dict[str, list[str]] = {}
    for p in card.pending_overrides:
        pending.setdefault(p.kind, []).extend(i for i in p.blocking if i not in pending.get(p.kind, []))
    return pending


def is_deduction(item: ItemResult) -> bool:
    """Whether the item takes points off (it has no tiers and adds nothing)."""
    return item.tier is None and (item.deduction is not None or item.max_points == 0)


def tier_text(item: ItemResult, language: str) -> str:
    """The tier as graders call it, ``N/A``, the occurrences of a deduction, or ``未评分``."""
    if item.error:
        return text("report.cannot_determine" if item.abstained else "report.unscored", language)
    if item.not_applicable:
        return "N/A"
    if not is_deduction(item):
        return item.tier_label or item.tier or "—"
    found = item.occurrences or []
    if not found:
        return text("report.none", language)
    times = "occurrence" if len(found) == 1 else "occurrences"
    shown = text("report.occurrences", language, n=len(found), times=times)
    severe = sum(o.severe for o in found)
    return shown + (f" ({text('report.severe', language, n=severe)})" if severe else "")


def item_points_text(item: ItemResult, language: str) -> str:
    """``0.75 / 1.5`` for a tiered item; a deduction's points, with what was due before a group limit."""
    if not is_deduction(item):
        return f"{points_text(item.points)} / {points_text(item.max_points)}"
    shown = points_text(item.points)
    if item.deduction is not None and item.points is not None and points_text(-item.deduction) != shown:
        shown += f" ({text('report.before_limit', language, points=points_text(-item.deduction))})"
    return shown


def item_verdict(item: ItemResult, language: str) -> str:
    """One item's verdict in a line: ``好 1.5/1.5``, ``−3(发现 2 处,应扣 3)``, ``N/A`` or the error."""
    if item.not_applicable:
        return "N/A"
    if item.unscored:
        return item.error or text("report.unscored", language)
    if item.occurrences is not None and item.tier is None:  # a deduction item
        # What the occurrences cost, and what was taken (a group penalty takes no more than the group earned).
        due, n = points_text(item.deduction or 0.0), len(item.occurrences)
        return text("explain.occurrences", language, points=points_text(item.points or 0.0), n=n, due=due)
    return f"{item.tier_label or item.tier} {points_text(item.points or 0.0)}/{points_text(item.max_points)}"


def needs_model(item: ItemResult) -> bool:
    """Unscored because no model judged it (rules only), not because a call or a rule failed."""
    return item.unscored and item.judge == "model" and item.audit.model is None and item.audit.failure is None


def for_review(item: ItemResult) -> bool:
    """Whether a person should look at the item: flagged for review, and not merely left to a model.

    An item not graded by design (a rules-only run: :func:`needs_model`) is not a review task.
    """
    return item.needs_review and not needs_model(item)


def lost_points(item: ItemResult) -> bool:
    """Whether a graded item cost points: below its top (a tiered item), or a deduction taken."""
    if item.unscored or item.points is None:
        return False
    return item.points < 0 if is_deduction(item) else item.points < item.max_points


def excluded_items(card: Scorecard) -> list[ItemResult]:
    """The not-applicable items left out of the total (which is then rescaled to the maximum)."""
    return [i for i in card.items if i.not_applicable and i.points is None and i.max_points > 0]


def rescaled_text(card: Scorecard, language: str) -> str | None:
    """``N/A 不计分:a, b;总分按 70 分折算为 100 分`` when items were excluded, else None."""
    excluded = excluded_items(card)
    if not excluded:
        return None
    available = (
        sum(c.max_points for c in card.categories)
        if card.categories
        else (card.max_score - sum(i.max_points for i in excluded))
    )
    return text(
        "report.rescaled",
        language,
        items=", ".join(i.item_id for i in excluded),
        available=points_text(available),
        points=points_text(card.max_score),
    )


@dataclass(frozen=True)
class Segment:
    """A piece of a turn's text, highlighted (``mark``) when evidence quotes it."""

    text: str
    mark: bool


@dataclass(frozen=True)
class TranscriptTurn:
    """One turn of a transcript as shown: numbered from 1, its text in segments."""

    number: int
    speaker: str
    segments: tuple[Segment, ...]
    cited: bool
    """Whether verified evidence quotes this turn."""
    items: tuple[str, ...] = ()
    """The items whose verified evidence quotes this turn (in card order)."""


def _segments(turn_text: str, spans: Iterable[tuple[int, int]]) -> tuple[Segment, ...]:
    """Split a turn's text into plain and highlighted pieces (overlapping spans merged)."""
    merged: list[list[int]] = []
    for start, end in sorted(s for s in spans if 0 <= s[0] < s[1] <= len(turn_text)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        if start > at:
            out.append(Segment(turn_text[at:start], False))
        out.append(Segment(turn_text[start:end], True))
        at = end
    if at < len(turn_text):
        out.append(Segment(turn_text[at:], False))
    return tuple(out)


def transcript(conversation: Conversation | None, evidence: Sequence[Evidence]) -> list[TranscriptTurn]:
    """The turns of ``conversation`` with the verified ``evidence`` highlighted ([] without one)."""
    if conversation is None:
        return []
    spans: dict[int, list[tuple[int, int]]] = {}
    for e in evidence:
        if e.verified:
            spans.setdefault(e.turn, []).append((e.start_char, e.end_char))
    return [
        TranscriptTurn(n, t.speaker, _segments(t.text, spans.get(n, ())), n in spans)
        for n, t in enumerate(conversation.turns, start=1)
    ]


def card_transcript(
    card: Scorecard, conversation: Conversation | None, *, only: Collection[str] | None = None
) -> list[TranscriptTurn]:
    """The card's conversation with every quote of its items and overrides highlighted.

    Each turn also lists the items whose verified evidence quotes it. ``only``: highlight the
    evidence of these items alone (the overrides' too only when it names every item) — the
    review page's blind mode, where an item's evidence stays hidden until it is labelled.
    """
    shown = [i for i in card.items if only is None or i.item_id in only]
    evidence = [e for i in shown for e in i.evidence]
    if len(shown) == len(card.items):
        evidence += [e for o in card.overrides for e in o.evidence]
    citing: dict[int, list[str]] = {}
    for result in shown:
        for e in result.evidence:
            if e.verified and result.item_id not in citing.get(e.turn, []):
                citing.setdefault(e.turn, []).append(result.item_id)
    return [
        replace(turn, items=tuple(citing.get(turn.number, ()))) for turn in transcript(conversation, evidence)
    ]
