"""What the commands share on screen: the two consoles, loading a batch, the scorecards table.

Only rich and the standard library are imported here at module level, so that every
command starts fast; the package modules a helper needs are imported when it runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._messages import text
from ..errors import LLMGraderError

if TYPE_CHECKING:
    from ..conversation import Conversation, Conversations
    from ..scoring import Scorecard

# Piped output keeps whole lines rather than rich's 80-column default.
out = Console(highlight=False, emoji=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
"""Standard output: results, tables, closing lines."""
err = Console(
    stderr=True, highlight=False, emoji=False, soft_wrap=True, width=None if sys.stderr.isatty() else 200
)
"""Standard error: problems, skipped input and the progress bar."""


def load_batch(paths: Sequence[Path], encoding: str | None, language: str, **options: Any) -> Conversations:
    """Load conversations, reporting each one skipped as ``skipped: file:line: field: message``.

    ``options`` go to :func:`~llm_grader.conversation.load_conversations` (format, channel,
    channel map, time unit); a channel map given as text (``0=agent,1=customer``) is parsed.
    """
    from ..conversation import load_conversations

    batch = load_conversations(*paths, encoding=encoding, **_parsed(options))
    for problem in batch.errors:
        err.print(text("cli.skipped", language, problem=problem), markup=False)
    for warning in batch.warnings:
        err.print(f"warning: {warning}", markup=False)
    return batch


def _parsed(options: dict[str, Any]) -> dict[str, Any]:
    """The loading options with a channel map given as text (``0=agent,1=customer``) parsed."""
    from ..conversation import parse_channel_map

    if isinstance(options.get("channel_map"), str):
        try:
            return {**options, "channel_map": parse_channel_map(options["channel_map"])}
        except ValueError as exc:
            raise LLMGraderError(f"--channel-map: {exc}") from None
    return options


class ConversationStream:
    """Conversations read as they are graded; each one skipped is reported at once and counted.

    Iterate it once: a bad line is printed as ``skipped: file:line: field: message`` and
    ``skipped`` counts it, and the conversations after it are read on.
    """

    def __init__(self, paths: Sequence[Path], encoding: str | None, language: str, **options: Any) -> None:
        from ..conversation import stream_conversations

        self.language = language
        self.skipped = 0
        """Conversations that could not be read, so far."""
        self.read = 0
        """Conversations read (handed on to grading), so far."""
        self.exhausted = False
        """Whether every input file has been read to its end."""
        self._items = stream_conversations(
            *paths, encoding=encoding, on_warning=self._warn, **_parsed(options)
        )

    def _warn(self, warning: str) -> None:
        err.print(f"warning: {warning}", markup=False)

    def __iter__(self) -> Iterator[Conversation]:
        from ..errors import ConversationError

        for item in self._items:
            if isinstance(item, ConversationError):
                self.skipped += 1
                err.print(text("cli.skipped", self.language, problem=item), markup=False)
            else:
                self.read += 1
                yield item
        self.exhausted = True

    def total(self, budget: float = 2.0) -> int | None:
        """All the conversations of the input: the ones read, and the rest read quietly now.

        For a run that stopped early (Ctrl-C) to say ``N of M``; the rest is read for at most
        ``budget`` seconds (and not reported), None when that was not enough or the reading is
        interrupted again.
        """
        from ..errors import ConversationError

        if not self.exhausted:
            deadline = time.monotonic() + budget
            try:
                for item in self._items:
                    if not isinstance(item, ConversationError):
                        self.read += 1
                    if time.monotonic() > deadline:
                        return None
            except (KeyboardInterrupt, LLMGraderError):
                return None
            self.exhausted = True
        return self.read


def stream_batch(
    paths: Sequence[Path], encoding: str | None, language: str, **options: Any
) -> ConversationStream:
    """:func:`load_batch` without holding the batch: conversations are read as grading asks for them.

    A missing path, an unknown format or a bad channel map is refused here, before anything is read.
    """
    return ConversationStream(paths, encoding, language, **options)


_COLUMNS = (
    "cli.table.conversation",
    "cli.table.channel",
    "cli.table.total",
    "cli.table.graded",
    "cli.table.unscored",
    "cli.table.notes",
)
"""The summary table's columns, as the messages naming them."""

SUMMARY_ROWS = 40
"""Rows of the summary table; the other scorecards are counted, and are in the output file."""


class BatchSummary:
    """What the summary of a batch needs, kept as its scorecards stream past.

    The first ``max_rows`` scorecards (for the table), counts, the usage summed, and the ids of
    failed conversations (the first ``max_ids``): memory stays flat however large the batch.
    """

    def __init__(self, *, max_rows: int = SUMMARY_ROWS, max_ids: int = 20) -> None:
        from ..types import Usage

        self.rows: list[Scorecard] = []
        """The first ``max_rows`` scorecards by id (the table's rows)."""
        self.graded = 0
        self.unscored = 0
        """Items not scored, over every scorecard."""
        self.abstained = 0
        """Of those, the items the model could not determine (``cannot_determine``)."""
        self.failed = 0
        """Scorecards with an error or an item whose model call failed."""
        self.failed_ids: list[str] = []
        self.usage = Usage()
        self.points = {"rule": 0.0, "model": 0.0, "available": 0.0}
        """Points decided by rules and by the model, and the points the cards could count, summed."""
        self.needs_model: dict[str, int] = {}
        """Items left to a model (not graded by design), by id: how many times."""
        self.unscored_items: dict[str, int] = {}
        """Items that could not be graded (a rule or a model call failed), by id."""
        self.pending: dict[str, tuple[int, list[str]]] = {}
        """Undetermined fatal / zero-score overrides by kind: the cards, and the items they wait for."""
        self._max_rows, self._max_ids = max_rows, max_ids

    def add(self, card: Scorecard) -> None:
        """Count one scorecard (kept only while it is among the table's first rows by id)."""
        from .._views import excluded_items, id_order, needs_model, pending_overrides

        self.graded += 1
        self.unscored += sum(1 for i in card.items if i.unscored)
        self.abstained += sum(1 for i in card.items if i.abstained)
        self.usage = self.usage + card.usage
        if card.errors or any(i.audit.failure for i in card.items):
            self.failed += 1
            if len(self.failed_ids) < self._max_ids:
                self.failed_ids.append(card.conversation_id)
        excluded = sum(i.max_points for i in excluded_items(card))
        self.points["available"] += card.max_score - excluded
        for i in card.items:
            if i.unscored:
                into = self.needs_model if needs_model(i) else self.unscored_items
                into[i.item_id] = into.get(i.item_id, 0) + 1
            elif not (i.not_applicable and i.points is None):
                by = "rule" if i.judge == "rule" or i.audit.decided_by == "rule" else "model"
                self.points[by] += i.max_points
        for kind, items in pending_overrides(card).items():
            cards, waiting = self.pending.get(kind, (0, []))
            self.pending[kind] = (cards + 1, waiting + [i for i in items if i not in waiting])
        self.rows.append(card)
        if len(self.rows) > self._max_rows:
            self.rows.sort(key=lambda c: id_order(c.conversation_id))
            self.rows.pop()

    def plain_summary(self, language: str) -> list[str]:
        """The run in plain words: what rules decided, what needs a model and why, what is still open."""
        from .._views import points_text

        if not self.graded:
            return []
        available = self.points["available"]
        lines = [
            text(
                {"rule": "cli.first.by_rule", "model": "cli.first.by_model"}[by],
                language,
                cards=self.graded,
                points=points_text(self.points[by]),
                available=points_text(available),
                share=self.points[by] / available if available else 0.0,
            )
            for by in ("rule", "model")
            if by == "rule" or self.points[by]
        ]
        if self.needs_model:
            lines.append(
                text("cli.first.needs_model", language, n=len(self.needs_model),
                     times=sum(self.needs_model.values()), items=", ".join(self.needs_model))
            )  # fmt: skip
        if self.unscored_items:
            failed = ", ".join(self.unscored_items)
            lines.append(text("cli.first.unscored", language, n=len(self.unscored_items), items=failed))
        names = {"fatal": "report.fatal", "zero_score": "report.zero_score"}
        for kind, (cards, waiting) in self.pending.items():
            name = text(names[kind], language) if kind in names else kind
            items = ", ".join(waiting)
            lines.append(text("cli.first.pending", language, kind=name, cards=cards, items=items))
        if not (self.needs_model or self.unscored_items or self.pending):
            lines.append(text("cli.first.final", language))
        return lines

    def table(self, language: str) -> Table:
        """The summary table: the first rows, then how many more are in the output file."""
        return summary_table(self.rows, language, max_rows=self._max_rows, total=self.graded)

    def failed_line(self, language: str) -> str | None:
        """``N conversation(s) with failed items: ids …`` when any failed, else None."""
        if not self.failed:
            return None
        more = self.failed - len(self.failed_ids)
        ids = ", ".join(self.failed_ids) + (f" … (+{more})" if more else "")
        return text("cli.failed", language, n=self.failed, ids=ids)


def total_text(card: Scorecard, language: str) -> str:
    """The total as the table shows it: ``部分 low–high / max`` while partial, never a bare number."""
    from .._views import total_text

    return total_text(card, language)


def _notes(card: Scorecard, language: str) -> list[str]:
    """Overrides fired or pending, the items that lost points (with why), a rescaled total, errors."""
    from .._views import item_points_text, lost_points, pending_overrides, rescaled_text, tier_text

    notes = [f"{o.kind}: {o.id}" for o in card.overrides]
    notes += [f"{kind}? ({', '.join(items)})" for kind, items in pending_overrides(card).items()]
    lost = [i for i in card.items if lost_points(i)]
    notes += [
        f"{i.item_id}: {tier_text(i, language)} {item_points_text(i, language)} {i.rationale}".strip()
        for i in lost
    ]
    notes += [f"{i.item_id}: {i.error}" for i in card.items if i.abstained]
    for i in card.items:
        if i.audit.inconsistent:
            rules = ", ".join(c.id for c in i.audit.inconsistent)
            notes.append(f"{i.item_id}: {text('cli.inconsistent', language, rules=rules)}")
    if not lost and any(not i.unscored and not i.not_applicable for i in card.items):
        notes.append(text("report.no_points_lost", language))
    rescaled = rescaled_text(card, language)
    return notes + ([rescaled] if rescaled else []) + list(card.errors)


def summary_table(
    cards: Sequence[Scorecard], language: str, *, max_rows: int = SUMMARY_ROWS, total: int | None = None
) -> Table:
    """The scorecards of a batch, one row each (the first ``max_rows`` by id).

    ``total``: how many scorecards the batch has when ``cards`` holds only its first ones.
    """
    from .._views import id_order

    shown = sorted(cards, key=lambda card: id_order(card.conversation_id))[:max_rows]
    more = (len(cards) if total is None else total) - len(shown)
    caption = text("cli.more_rows", language, n=more) if more else None
    table = Table(title=text("cli.table.title", language), caption=caption)
    for column in _COLUMNS:
        table.add_column(text(column, language))
    for card in shown:
        unscored = sum(1 for i in card.items if i.unscored)
        cells = (
            card.conversation_id,
            str(card.metadata.get("channel", "")),
            total_text(card, language),
            str(len(card.items) - unscored),
            str(unscored),
            "\n".join(_notes(card, language)),
        )
        table.add_row(*(Text(cell) for cell in cells))  # Text: ids and notes are data, never markup
    return table
