"""Reviewing grades (复核) and agents' appeals (申诉): the loop after grading.

A reviewer opens the flagged items of a batch (needs review, unscored, low sample agreement,
fatal), reads the transcript with the evidence highlighted, and accepts the grade or
overrides the tier with a reason; an agent's appeal is recorded with its outcome. Verdicts
go to SQLite, every one kept, the latest per item counting. They come back out as human
scores for calibration, as a spreadsheet for teams that review there, and as final
scorecards recomputed by the scoring rules.

- :mod:`.store` — :class:`VerdictStore` (SQLite, WAL, each verdict committed before the answer)
- :mod:`.batch` — :class:`ReviewBatch` (scorecards + rubric + transcripts) and verdict checks
- :mod:`.queue` — which items are flagged and why; the list's filters and sorts
- :mod:`.apply` — :func:`apply_verdicts`: final scorecards
- :mod:`.sheet` — human-scores CSV, review sheet export and import
- :mod:`.pages`, :mod:`.web`, :mod:`.server` — the local web app (WSGI, stdlib server)
"""

from __future__ import annotations

from ._apply import apply_verdicts
from ._queue import ConversationRow, Filters, flag_reasons, summarise
from ._review_batch import ReviewBatch, ReviewError, current_tier, tier_choices
from ._server import ReviewServer, is_loopback, start_review_server
from ._sheet import HUMAN_COLUMNS, SHEET_COLUMNS, read_sheet, write_human_scores, write_sheet
from ._store import StoredVerdict, VerdictStore
from ._web import ReviewApp

__all__ = [
    "HUMAN_COLUMNS",
    "SHEET_COLUMNS",
    "ConversationRow",
    "Filters",
    "ReviewApp",
    "ReviewBatch",
    "ReviewError",
    "ReviewServer",
    "StoredVerdict",
    "VerdictStore",
    "apply_verdicts",
    "current_tier",
    "flag_reasons",
    "is_loopback",
    "read_sheet",
    "start_review_server",
    "summarise",
    "tier_choices",
    "write_human_scores",
    "write_sheet",
]
