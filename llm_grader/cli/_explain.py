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

from .._messages import text
from .._views import item_verdict, needs_model, pending_overrides, total_text
from ._console import out

if TYPE_CHECKING:
    from ..scoring import ItemResult, Scorecard


def _line(item: ItemResult, language: str, verdict: str) -> str:
    rationale = " ".join(item.rationale.split())
    return "    " + text(
        "explain.line", language, id=item.item_id, name=item.name, verdict=verdict, rationale=rationale
    )


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
        ("explain.by_rule", [_line(i, language, item_verdict(i, language)) for i in by_rule]),
        ("explain.by_model", [_line(i, language, item_verdict(i, language)) for i in by_model]),
        ("explain.not_applicable", [_line(i, language, "N/A") for i in card.items if i.not_applicable]),
        (
            "explain.not_graded",
            [_line(i, language, i.error or "") for i in card.items if i.unscored and not needs_model(i)],
        ),
    ]
    for heading, lines in sections:
        if lines:
            yield "  " + text(heading, language)
            yield from lines
    waiting = [i for i in card.items if needs_model(i)]
    if waiting:
        items = ", ".join(i.item_id for i in waiting)
        points = sum(i.max_points for i in waiting)
        yield "  " + text("explain.needs_model", language, n=len(waiting), points=points, items=items)
    if card.overrides:
        fired: dict[str, list[str]] = {}
        for hit in card.overrides:
            fired.setdefault(hit.kind, []).append(hit.id)
        yield "  " + text("explain.fired", language, overrides=_overrides(fired, language))
    pending = pending_overrides(card)
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
