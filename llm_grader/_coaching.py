"""Coaching evidence: per agent, the items where points were lost, with the verified quotes.

For each agent (the first ``by`` field, e.g. ``metadata.agent_id``) and each item on which
the agent lost points, :func:`coaching_rows` gives one ``lost`` row per verified quote of
those results (conversation, turn, speaker, quote, tier, points lost), and for contrast up to
``examples`` ``example`` rows: verified quotes of the same item graded at its top points in
conversations of *other* agents of the same team (the remaining ``by`` fields; with one field,
the whole batch), from the highest-scoring complete scorecards first. Only verified evidence
is used — a quote not found in the transcript is never shown as proof. :func:`write_coaching`
writes the rows as CSV, every text cell neutralised against spreadsheet formulas
(:func:`llm_grader._spreadsheet.write_csv`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ._groups import field_value, parse_fields
from ._spreadsheet import write_csv

if TYPE_CHECKING:
    from .scoring import ItemResult, Scorecard


@dataclass(frozen=True)
class CoachingRow:
    """One quote: where an agent lost points (``lost``), or a top-tier example from the team (``example``)."""

    agent: str
    team: str
    item_id: str
    item: str
    kind: Literal["lost", "example"]
    conversation_id: str
    turn: int
    speaker: str
    quote: str
    tier: str
    points: float | None
    max_points: float
    points_lost: float
    example_agent: str = ""
    """For an example: the agent whose conversation it is."""


def _lost(result: ItemResult) -> float:
    if result.points is None or result.not_applicable or result.error is not None:
        return 0.0
    return max(0.0, result.max_points - result.points)


def _quotes(
    agent: str,
    team: str,
    card: Scorecard,
    result: ItemResult,
    kind: Literal["lost", "example"],
    source: str = "",
) -> list[CoachingRow]:
    return [
        CoachingRow(
            agent=agent,
            team=team,
            item_id=result.item_id,
            item=result.name,
            kind=kind,
            conversation_id=card.conversation_id,
            turn=e.turn,
            speaker=e.speaker,
            quote=e.quote,
            tier=result.tier_label or result.tier or "",
            points=result.points,
            max_points=result.max_points,
            points_lost=_lost(result),
            example_agent=source,
        )
        for e in [*result.evidence, *(result.occurrences or [])]
        if e.verified
    ]


def coaching_rows(
    cards: Iterable[Scorecard], by: str | Sequence[str] = "metadata.agent_id", *, examples: int = 2
) -> list[CoachingRow]:
    """The coaching evidence of every agent (see the module docstring), agents and items in order."""
    from ._views import id_order

    agent_field, *team_fields = parse_fields(by)
    batch = list(cards)

    def team_of(card: Scorecard) -> str:
        return " / ".join(field_value(card, f) for f in team_fields)

    # Top-tier quotes per (team, item), best complete scorecards first.
    ranked = sorted(
        batch, key=lambda c: (not c.complete, -(c.total_score or 0.0), id_order(c.conversation_id))
    )
    top: dict[tuple[str, str], list[tuple[str, Scorecard, ItemResult]]] = {}
    for card in ranked:
        for result in card.items:
            if result.points is not None and _lost(result) == 0 and any(e.verified for e in result.evidence):
                top.setdefault((team_of(card), result.item_id), []).append(
                    (field_value(card, agent_field), card, result)
                )
    lost: dict[tuple[str, str], dict[str, list[tuple[Scorecard, ItemResult]]]] = {}
    for card in sorted(batch, key=lambda c: id_order(c.conversation_id)):
        for result in card.items:
            if _lost(result) > 0:
                key = (field_value(card, agent_field), team_of(card))
                lost.setdefault(key, {}).setdefault(result.item_id, []).append((card, result))
    rows: list[CoachingRow] = []
    for agent, team in sorted(lost, key=lambda k: (id_order(k[0]), k[1])):
        by_item = lost[(agent, team)]
        for item_id in sorted(by_item, key=lambda i: -sum(_lost(r) for _, r in by_item[i])):
            for card, result in by_item[item_id]:
                rows += _quotes(agent, team, card, result, "lost")
            contrast = [t for t in top.get((team, item_id), []) if t[0] != agent][:examples]
            for source, card, result in contrast:
                rows += _quotes(agent, team, card, result, "example", source)[:1]
    return rows


COLUMNS = tuple(f.name for f in fields(CoachingRow))
"""The CSV's columns, in order."""


def write_coaching(path: str | Path, rows: Iterable[CoachingRow]) -> int:
    """Write the rows as CSV (UTF-8 with a byte-order mark, formula-neutralised cells); the rows written."""
    records = [asdict(row) for row in rows]
    write_csv(path, COLUMNS, records)
    return len(records)
