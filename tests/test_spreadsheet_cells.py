"""Spreadsheet cells are data: no cell of ours runs as a formula, and ids round-trip.

The review sheet, ``human.csv`` and ``llm-grader export`` CSV neutralise every text cell that
starts with ``=``, ``+``, ``-``, ``@``, tab or CR (OWASP CSV injection: a ``'`` before it);
numbers we wrote stay numbers; reading our own sheets and human CSVs back undoes it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from llm_grader import Conversation, Grader, export_results, load_rubric
from llm_grader.calibration import load_human_scores
from llm_grader.review import ReviewBatch, StoredVerdict, read_sheet, write_human_scores, write_sheet
from llm_grader.types import ReviewVerdict

RUBRIC = load_rubric("internet_cs_qa")
HOSTILE = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "'=already", "''-x"]
"""Ids a spreadsheet would run as formulas (and two that already start with quotes)."""


def _raw(path: Path) -> list[list[str]]:
    """The cells exactly as in the file, as a spreadsheet reads them."""
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark, for Excel
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _runs(cell: str) -> bool:
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("text", [*HOSTILE, "", "'", "plain", "'plain", "-", "客服=1"])
def test_neutralise_makes_text_and_restore_gives_it_back(text: str) -> None:
    from llm_grader import neutralise, restore

    assert not _runs(neutralise(text))
    assert restore(neutralise(text)) == text
    assert neutralise(text) == text or neutralise(text) == "'" + text


def _graded() -> tuple[ReviewBatch, list[Conversation]]:
    conversations = [
        Conversation.model_validate(
            {"id": cid, "metadata": {"agent_id": "@A1", "queue": "-x"},
             "turns": [{"speaker": "customer", "text": "你好", "start": 0, "end": 1},
                       {"speaker": "agent", "text": "=1+1 您好,很高兴为您服务", "start": 3, "end": 5}]}
        )
        for cid in HOSTILE
    ]
    cards = Grader(RUBRIC).grade_many(conversations)
    return ReviewBatch.build(RUBRIC, cards, {c.id: c for c in conversations}), conversations


def test_review_sheet_ids_are_neutralised_and_read_back(tmp_path: Path) -> None:
    batch, _ = _graded()
    sheet = tmp_path / "sheet.csv"
    assert write_sheet(batch, {}, sheet, all_items=True) == len(HOSTILE) * 10
    table = _raw(sheet)
    assert not [cell for row in table for cell in row if _runs(cell)]
    columns = table[0]
    ids = {row[columns.index("conversation_id")] for row in table[1:]}
    assert ids == {"'" + cid for cid in HOSTILE}
    rows = [dict(zip(columns, row, strict=True)) for row in table[1:]]
    for row in rows:
        row["decision"] = "accept" if row["current_tier"] else ""
    with sheet.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    found = read_sheet(sheet, batch, reviewer="=qa")
    assert {cid for cid, _, _ in found} == set(HOSTILE)
    assert {v.reviewer for _, _, v in found} == {"=qa"}


def test_human_csv_rater_and_ids_are_neutralised_and_read_back(tmp_path: Path) -> None:
    latest = {
        (cid, "efficiency"): StoredVerdict(
            id=n, conversation_id=cid, item_id="efficiency",
            verdict=ReviewVerdict(reviewer="=HYPERLINK(\"x\")", decision="accept", original_tier="good"),
        )
        for n, cid in enumerate(HOSTILE)
    }
    out = tmp_path / "human.csv"
    assert write_human_scores(latest, out) == len(HOSTILE)
    table = _raw(out)
    assert not [cell for row in table for cell in row if _runs(cell)]
    assert table[1][1] == "'=HYPERLINK(\"x\")"
    scores = load_human_scores(out)
    assert sorted(s.conversation_id for s in scores) == sorted(HOSTILE)
    assert {s.rater for s in scores} == {'=HYPERLINK("x")'}


def test_export_csv_cells_are_neutralised_numbers_stay_and_quotes_show(tmp_path: Path) -> None:
    batch, _ = _graded()
    cards = [c.model_copy(update={"metadata": {"note": "=1+2", "delta": -3, "tags": ["-a"]}}) for c in batch.cards]
    for level in ("item", "conversation"):
        out = tmp_path / f"{level}.csv"
        export_results(cards, out, level=level)  # type: ignore[arg-type]
        table = _raw(out)
        assert not [cell for row in table for cell in row if _runs(cell) and cell != "-3"]
        columns = table[0]
        first = dict(zip(columns, table[1], strict=True))
        assert first["metadata.note"] == "'=1+2" and first["metadata.delta"] == "-3"  # a number we wrote
        assert first["conversation_id"].startswith("'")
    item_table = _raw(tmp_path / "item.csv")
    items = [dict(zip(item_table[0], row, strict=True)) for row in item_table[1:]]
    quoted = next(r for r in items if r["evidence_count"] == "1")
    assert quoted["evidence_quote"].startswith("'=1+1") and quoted["rationale"]
    assert quoted["evidence"] == "turn 2: " + quoted["evidence_quote"][1:]
