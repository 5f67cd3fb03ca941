"""What the commands share on screen: the two consoles, loading a batch, the scorecards table.

Only rich and the standard library are imported here at module level, so that every
command starts fast; the package modules a helper needs are imported when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..errors import LLMGraderError
from ..messages import text

if TYPE_CHECKING:
    from ..conversation import Conversations
    from ..scoring import ItemResult, Scorecard

__all__ = ["err", "load_batch", "out", "summary_table"]

# Piped output keeps whole lines rather than rich's 80-column default.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
"""Standard output: results, tables, closing lines."""
err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 200)
"""Standard error: problems, skipped input and the progress bar."""


def load_batch(paths: Sequence[Path], encoding: str | None, language: str, **options: Any) -> Conversations:
    """Load conversations, reporting each one skipped as ``skipped: file:line: field: message``.

    ``options`` go to :func:`~llm_grader.conversation.load_conversations` (format, channel,
    channel map, time unit); a channel map given as text (``0=agent,1=customer``) is parsed.
    """
    from ..conversation import load_conversations, parse_channel_map

    if isinstance(options.get("channel_map"), str):
        try:
            options["channel_map"] = parse_channel_map(options["channel_map"])
        except ValueError as exc:
            raise LLMGraderError(f"--channel-map: {exc}") from None
    batch = load_conversations(*paths, encoding=encoding, **options)
    for problem in batch.errors:
        err.print(text("cli.skipped", language, problem=problem), markup=False)
    for warning in batch.warnings:
        err.print(f"warning: {warning}", markup=False)
    return batch


def _total(card: Scorecard, language: str) -> str:
    if not card.complete and card.total_min is not None and card.total_max is not None:
        low, high = round(card.total_min, 2), round(card.total_max, 2)
        return text("cli.partial", language, low=f"{low:g}", high=f"{high:g}", points=f"{card.max_score:g}")
    if card.total_score is None:
        return "—"
    return text("cli.total", language, score=round(card.total_score, 2), points=card.max_score)


def _tier_text(item: ItemResult) -> str:
    return "N/A" if item.not_applicable else item.tier_label or item.tier or ""


def _notes(card: Scorecard) -> list[str]:
    notes = [f"{o.kind}: {o.id}" for o in card.overrides]
    pending: dict[str, list[str]] = {}
    for p in card.pending_overrides:
        pending.setdefault(p.kind, []).extend(i for i in p.blocking if i not in pending.get(p.kind, []))
    notes += [f"{kind}? ({', '.join(items)})" for kind, items in pending.items()]
    notes += [
        f"{i.item_id}: {_tier_text(i)} {i.rationale}".strip()
        for i in card.items
        if not i.unscored and i.judge == "rule"
    ]
    return notes + list(card.errors)


def summary_table(cards: Sequence[Scorecard], language: str, *, max_rows: int = 40) -> Table:
    """The scorecards of a batch, one row each (the first ``max_rows``)."""
    shown = cards[:max_rows]
    more = len(cards) - len(shown)
    caption = text("cli.more_rows", language, n=more) if more else None
    table = Table(title="scorecards", caption=caption)
    for column in ("conversation", "channel", "total", "graded", "unscored", "overrides / notes"):
        table.add_column(column)
    for card in shown:
        unscored = sum(1 for i in card.items if i.unscored)
        cells = (
            card.conversation_id,
            str(card.metadata.get("channel", "")),
            _total(card, language),
            str(len(card.items) - unscored),
            str(unscored),
            "\n".join(_notes(card)),
        )
        table.add_row(*(Text(cell) for cell in cells))  # Text: ids and notes are data, never markup
    return table
