"""``grade --explain``: for each scorecard, what rules decided (with evidence) and what needs a model.

A rules-only run leaves model-judged items unscored; this view says, card by card, which
items the rules decided — rule items, and hybrid items whose rule fired — with the tier,
points and the rule's finding; which do not apply; which still need a model and how many
points they hold; and which overrides are pending on them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rich.text import Text

from ..messages import text
from ._console import out, total_text

if TYPE_CHECKING:
    from ..scoring import ItemResult, Scorecard

__all__ = ["explain_card", "explain_cards", "print_explanation"]


def _verdict(item: ItemResult, language: str) -> str:
    if item.occurrences is not None and item.tier is None:  # a deduction item
        # What the occurrences cost, and what was taken (a group penalty takes no more than the group earned).
        due, n = item.deduction or 0.0, len(item.occurrences)
        return text("explain.occurrences", language, points=item.points or 0.0, n=n, due=due)
    return f"{item.tier_label or item.tier} {item.points or 0:g}/{item.max_points:g}"


def _line(item: ItemResult, language: str, verdict: str) -> str:
    rationale = " ".join(item.rationale.split())
    return "    " + text(
        "explain.line", language, id=item.item_id, name=item.name, verdict=verdict, rationale=rationale
    )


def _needs_model(item: ItemResult) -> bool:
    """Unscored because no model judged it (rules only), not because a call or a rule failed."""
    return item.unscored and item.judge == "model" and item.audit.model is None and item.audit.failure is None


def _overrides(groups: dict[str, list[str]], language: str) -> str:
    return ("、" if language == "zh" else "; ").join(
        f"{kind}({', '.join(ids)})" for kind, ids in groups.items()
    )


def explain_card(card: Scorecard, language: str) -> Iterator[str]:
    """The lines explaining one scorecard."""
    channel = str(card.metadata.get("channel", ""))
    yield text(
        "explain.card", language, id=card.conversation_id, channel=channel, total=total_text(card, language)
    )
    by_rule = [
        i
        for i in card.items
        if not i.unscored and not i.not_applicable and (i.judge == "rule" or i.audit.decided_by == "rule")
    ]
    by_model = [i for i in card.items if not i.unscored and not i.not_applicable and i not in by_rule]
    sections = [
        ("explain.by_rule", [_line(i, language, _verdict(i, language)) for i in by_rule]),
        ("explain.by_model", [_line(i, language, _verdict(i, language)) for i in by_model]),
        ("explain.not_applicable", [_line(i, language, "N/A") for i in card.items if i.not_applicable]),
        (
            "explain.not_graded",
            [_line(i, language, i.error or "") for i in card.items if i.unscored and not _needs_model(i)],
        ),
    ]
    for heading, lines in sections:
        if lines:
            yield "  " + text(heading, language)
            yield from lines
    waiting = [i for i in card.items if _needs_model(i)]
    if waiting:
        items = ", ".join(i.item_id for i in waiting)
        points = sum(i.max_points for i in waiting)
        yield "  " + text("explain.needs_model", language, n=len(waiting), points=points, items=items)
    if card.overrides:
        fired: dict[str, list[str]] = {}
        for hit in card.overrides:
            fired.setdefault(hit.kind, []).append(hit.id)
        yield "  " + text("explain.fired", language, overrides=_overrides(fired, language))
    pending: dict[str, list[str]] = {}
    for p in card.pending_overrides:
        pending.setdefault(p.kind, []).extend(i for i in p.blocking if i not in pending.get(p.kind, []))
    if pending:
        yield "  " + text("explain.pending", language, overrides=_overrides(pending, language))


def explain_cards(cards: Sequence[Scorecard], language: str) -> list[str]:
    """The explanation of every scorecard, a blank line between cards."""
    lines: list[str] = []
    for card in cards:
        lines += [*explain_card(card, language), ""]
    return lines


def print_explanation(cards: Sequence[Scorecard], language: str) -> None:
    """Print :func:`explain_cards` (plain text: ids, names and quotes are data, never markup)."""
    for line in explain_cards(cards, language):
        out.print(Text(line))
