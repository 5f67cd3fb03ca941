"""Verdicts in and out as CSV: human scores for calibration, and a sheet for spreadsheet reviewers.

- :func:`human_score_rows` / :func:`write_human_scores`: the labels
  (:meth:`~llm_grader.review.VerdictStore.labels`: the latest verdict per item, and every
  reviewer's latest blind label) in the long human-scores format
  (``conversation_id,rater,item_id,value,blind``) that
  :func:`llm_grader.calibration.load_human_scores` reads; the rater is the reviewer, the
  value the final tier (an accepted item gives the grader's tier), ``blind`` 1 when the
  label was given with the AI grade hidden, else 0.
- :func:`write_sheet`: one row per flagged item with a transcript excerpt, the current tier,
  the tiers allowed and empty verdict columns; :func:`read_sheet` reads it back, every bad
  row reported at once by its spreadsheet row number (the header is row 1).

Every cell is written neutralised against spreadsheet formulas (:mod:`llm_grader._spreadsheet`)
and read back restored, so ids that start with ``=`` or ``-`` round-trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from .._spreadsheet import evidence_cell, read_csv, restore, write_csv
from .._textfiles import read_utf8
from .._views import id_order
from ..conversation import Conversation
from ..errors import InputError, Problem
from ..scoring import ItemResult, Scorecard
from ..types import NOT_APPLICABLE, Evidence, ReviewVerdict
from ._queue import flag_reasons
from ._review_batch import ReviewBatch, ReviewError, current_tier, tier_choices
from ._store import StoredVerdict

HUMAN_COLUMNS = ("conversation_id", "rater", "item_id", "value", "blind")
"""The long human-scores format, with whether each label was given blind."""

SHEET_COLUMNS = (
    "conversation_id",
    "item_id",
    "item",
    "metadata",
    "flags",
    "current_tier",
    "tiers",
    "evidence",
    "rationale",
    "excerpt",
    "latest_verdict",
    "decision",
    "tier",
    "reason",
    "reviewer",
    "kind",
)
"""The review sheet's columns; the last five are the reviewer's to fill."""

_NEEDED = ("conversation_id", "item_id", "current_tier", "decision", "tier", "reason", "reviewer", "kind")
"""The columns an imported sheet must have."""
_EXCERPT_CHARS = 3000
_DECISIONS = {"accept": "accept", "override": "override", "维持": "accept", "改判": "override"}
_KINDS = {"": "review", "review": "review", "appeal": "appeal", "复核": "review", "申诉": "appeal"}


_Labels = Mapping[tuple[str, str], StoredVerdict] | Iterable[StoredVerdict]
"""Verdicts to export: the latest per item (a mapping), or :meth:`VerdictStore.labels`."""


def human_score_rows(labels: _Labels) -> list[dict[str, str]]:
    """One row per label with a tier (a deduction item accepted has none), in id then store order."""
    stored_ones = list(labels.values() if isinstance(labels, Mapping) else labels)
    rows = []
    for stored in sorted(stored_ones, key=lambda s: (id_order(s.conversation_id), s.id)):
        v = stored.verdict
        value = v.tier if v.decision == "override" else v.original_tier
        if value:
            rows.append(
                {
                    "conversation_id": stored.conversation_id,
                    "rater": v.reviewer,
                    "item_id": stored.item_id,
                    "value": value,
                    "blind": "1" if v.blind else "0",
                }
            )
    return rows


def write_human_scores(labels: _Labels, path: str | Path) -> int:
    """Write the human-scores CSV; returns the rows written."""
    rows = human_score_rows(labels)
    write_csv(path, HUMAN_COLUMNS, rows)
    return len(rows)


def _excerpt(conversation: Conversation | None, evidence: list[Evidence]) -> str:
    """The cited turns with a turn of context either side; the whole transcript when none is cited."""
    if conversation is None:
        return ""
    turns = conversation.turns
    cited = {e.turn for e in evidence if 1 <= e.turn <= len(turns)}
    shown = sorted({n for c in cited for n in (c - 1, c, c + 1) if 1 <= n <= len(turns)}) or range(
        1, len(turns) + 1
    )
    text = "\n".join(f"[{n}] {turns[n - 1].speaker}: {turns[n - 1].text}" for n in shown)
    return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 1] + "…"


def _latest_text(stored: StoredVerdict | None) -> str:
    if stored is None:
        return ""
    v = stored.verdict
    what = f"override → {v.tier}" if v.decision == "override" else "accept"
    return f"{v.kind} {what} by {v.reviewer} at {v.at}"


def _sheet_row(
    batch: ReviewBatch,
    card: Scorecard,
    result: ItemResult,
    reasons: tuple[str, ...],
    latest: StoredVerdict | None,
) -> dict[str, str]:
    item = batch.rubric.item(result.item_id)
    metadata = "; ".join(f"{k}={v}" for k, v in card.metadata.items() if isinstance(v, (str, int, float)))
    return {
        "conversation_id": card.conversation_id,
        "item_id": result.item_id,
        "item": result.name,
        "metadata": metadata,
        "flags": " ".join(reasons),
        "current_tier": current_tier(result) or "",
        "tiers": " | ".join(f"{i}={label}" for i, label in tier_choices(item)),
        "evidence": evidence_cell(result.evidence),
        "rationale": result.error or result.rationale,
        "excerpt": _excerpt(batch.conversations.get(card.conversation_id), list(result.evidence)),
        "latest_verdict": _latest_text(latest),
        **dict.fromkeys(("decision", "tier", "reason", "reviewer", "kind"), ""),
    }


def sheet_rows(
    batch: ReviewBatch,
    latest: Mapping[tuple[str, str], StoredVerdict],
    *,
    low_agreement: float = 0.8,
    all_items: bool = False,
) -> list[dict[str, str]]:
    """The sheet's rows: every flagged item (every item with ``all_items``), in id then card order."""
    rows = []
    for card in batch.cards:
        for result in card.items:
            reasons = flag_reasons(card, result, low_agreement=low_agreement)
            if reasons or all_items:
                latest_one = latest.get((card.conversation_id, result.item_id))
                rows.append(_sheet_row(batch, card, result, reasons, latest_one))
    return rows


def write_sheet(
    batch: ReviewBatch,
    latest: Mapping[tuple[str, str], StoredVerdict],
    path: str | Path,
    *,
    low_agreement: float = 0.8,
    all_items: bool = False,
) -> int:
    """Write the review sheet (UTF-8 with BOM, for spreadsheets); returns the rows written."""
    rows = sheet_rows(batch, latest, low_agreement=low_agreement, all_items=all_items)
    write_csv(path, SHEET_COLUMNS, rows)
    return len(rows)


def _tier_id(batch: ReviewBatch, item_id: str, given: str) -> str:
    """A tier given by id or label (``N/A`` for not applicable) as its id."""
    for tier_id, label in tier_choices(batch.rubric.item(item_id)):
        if given in (tier_id, label):
            return tier_id
    return NOT_APPLICABLE if given.upper() == "N/A" else given


def _verdict(
    batch: ReviewBatch, row: Mapping[str, str], reviewer: str
) -> tuple[str, str, ReviewVerdict] | None:
    """The verdict a filled-in row gives, None for a row left empty (ReviewError when wrong)."""
    cell = {k: restore((row.get(k) or "").strip()) for k in _NEEDED}
    if not cell["decision"]:
        if cell["tier"] or cell["reason"]:
            message = "is empty but a tier or reason is filled in: write accept or override"
            raise ReviewError(message, field="decision")
        return None
    cid, item_id = cell["conversation_id"], cell["item_id"]
    _, result = batch.result(cid, item_id)
    if cell["current_tier"] != (current_tier(result) or ""):
        raise ReviewError(
            f"{cell['current_tier']!r} is not the tier in the results ({current_tier(result)!r}): "
            "the sheet was exported from other results",
            field="current_tier",
        )
    if cell["decision"] not in _DECISIONS or cell["kind"] not in _KINDS:
        bad = "decision" if cell["decision"] not in _DECISIONS else "kind"
        choices = "accept, override (维持, 改判)" if bad == "decision" else "review, appeal (复核, 申诉)"
        raise ReviewError(f"{cell[bad]!r} is not one of {choices}", field=bad)
    verdict = batch.verdict(
        cid,
        item_id,
        reviewer=cell["reviewer"] or reviewer,
        decision=_DECISIONS[cell["decision"]],
        tier=_tier_id(batch, item_id, cell["tier"]) if cell["tier"] else None,
        reason=cell["reason"],
        kind=_KINDS[cell["kind"]],
    )
    return cid, item_id, verdict


def read_sheet(
    path: str | Path, batch: ReviewBatch, *, reviewer: str = ""
) -> list[tuple[str, str, ReviewVerdict]]:
    """The verdicts of a filled-in review sheet: (conversation id, item id, verdict) per filled row.

    ``reviewer`` is used where a row leaves its reviewer empty. Every bad row is reported at
    once (:class:`~llm_grader.errors.InputError`) as ``file:row: column: message``; nothing is
    returned unless every row is good.
    """
    file = str(path)
    header, rows = read_csv(read_utf8(path, what="review sheet"), file)
    absent = [c for c in _NEEDED if c not in header]
    if absent:
        message = f"header lacks {', '.join(absent)}; export a sheet with `review export --csv`"
        raise InputError.at(file, 1, "", message)
    verdicts, problems = [], []
    for number, (_, row) in enumerate(rows, start=2):
        try:
            found = _verdict(batch, row, reviewer)
        except ReviewError as exc:
            problems.append(Problem(file=file, line=number, field=exc.field, message=str(exc)))
            continue
        if found is not None:
            verdicts.append(found)
    if problems:
        raise InputError(problems)
    return verdicts
