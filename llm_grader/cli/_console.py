"""What the commands share on screen: the two consoles, loading a batch, the scorecards table.

Only rich and the standard library are imported here at module level, so that every
command starts fast; the package modules a helper needs are imported when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

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


def load_batch(paths: Sequence[Path], encoding: str | None, language: str) -> Conversations:
    """Load conversations, reporting each one skipped as ``skipped: file:line: field: message``."""
    from ..conversation import load_conversations

    batch = load_conversations(*paths, encoding=encoding)
    for problem in batch.errors:
        err.print(text("cli.skipped", language, problem=problem), markup=False)
    return batch


def _total(card: Scorecard, language: str) -> str:
    if card.total_score is None:
        return "—"
    total = text("cli.total", language, score=round(card.total_score, 2), points=card.max_score)
    if not card.complete:
        total += text("cli.ungraded", language, points=card.unscored_points)
    return total


def _tier_text(item: ItemResult) -> str:
    return "N/A" if item.not_applicable else item.tier_label or item.tier or ""


def _notes(card: Scorecard) -> list[str]:
    notes = [f"{o.kind}: {o.id}" for o in card.overrides]
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
        table.add_row(
            card.conversation_id,
            str(card.metadata.get("channel", "")),
            _total(card, language),
            str(len(card.items) - unscored),
            str(unscored),
            "\n".join(_notes(card)),
        )
    return table
