"""Grading at volume: conversations read as they are graded, scorecards not kept, a bounded summary."""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import llm_grader.conversation._readers as readers_module
import llm_grader.conversation._text as text_module
from llm_grader import Grader, load_rubric
from llm_grader.cli._console import BatchSummary, stream_batch
from llm_grader.cli._grading import EXIT_FAILED, EXIT_INPUT, run_batch
from llm_grader.conversation import LIMITS, load_conversations, stream_conversations
from llm_grader.errors import ConversationError, NotFoundError
from llm_grader.llm import JudgeRequest
from llm_grader.testing import FakeJudge
from llm_grader.testing._fake_judge import top_tier_answers

from .conftest import EXAMPLES

RUBRIC = load_rubric("internet_cs_qa")
OPTIONS: dict[str, Any] = {"format": "auto", "channel_map": None, "time_unit": None, "channel": None}


def records(n: int) -> list[dict[str, Any]]:
    lines = (EXAMPLES / "conversations.jsonl").read_text("utf-8").splitlines()
    examples = [json.loads(line) for line in lines if line.strip()]
    return [{**r, "id": f"s{i:03d}"} for i, r in zip(range(n), itertools.cycle(examples))]


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), "utf-8")
    return path


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "llm_grader", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"},
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


# --------------------------------------------------------------------------- the command line


def test_grade_streams_reports_a_bad_line_and_bounds_the_table(tmp_path: Path) -> None:
    lines = [dumps(r) for r in records(45)]
    lines.insert(20, '{"id": "broken", "turns": [')
    source = write_jsonl(tmp_path / "day.jsonl", lines)
    output = tmp_path / "out.jsonl"
    result = cli("grade", source, "-r", "internet_cs_qa", "--rules-only", "-o", output)
    assert result.returncode == EXIT_INPUT, result.stderr
    assert f"skipped: {source}:21: invalid JSON" in result.stderr
    written = [json.loads(line)["conversation_id"] for line in output.read_text("utf-8").splitlines()]
    assert sorted(written) == [f"s{i:03d}" for i in range(45)]
    table_rows = [line for line in result.stdout.splitlines() if line.startswith("│ s0")]
    assert len(table_rows) == 40
    assert "… and 5 more in the output file" in result.stdout
    assert "45 conversation(s) graded, 1 skipped" in result.stdout


def test_a_missing_file_is_refused_before_the_output_is_touched(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_text('{"kept": true}\n', "utf-8")
    result = cli("grade", tmp_path / "nope.jsonl", "-r", "internet_cs_qa", "--rules-only", "-o", output,
                 "--overwrite")  # fmt: skip
    assert result.returncode == 1
    assert f"conversation file {str(tmp_path / 'nope.jsonl')!r} does not exist" in result.stderr
    assert output.read_text("utf-8") == '{"kept": true}\n'


# --------------------------------------------------------------------------- run_batch on a stream


def test_the_stream_is_read_while_grading_not_before(tmp_path: Path) -> None:
    lines = [*map(dumps, records(30)), "not json"]
    source = write_jsonl(tmp_path / "c.jsonl", lines)
    batch = stream_batch([source], None, "zh", **OPTIONS)
    skipped_at_first_card: list[int] = []
    grader = Grader(RUBRIC, concurrency=2)
    original = grader.grade_many

    def grade_many(conversations: Any, **kwargs: Any) -> Any:
        user = kwargs.pop("on_scorecard")

        def on_scorecard(card: Any) -> None:
            if not skipped_at_first_card:
                skipped_at_first_card.append(batch.skipped)
            user(card)

        return original(conversations, on_scorecard=on_scorecard, **kwargs)

    grader.grade_many = grade_many  # type: ignore[method-assign]
    run = run_batch(grader, batch, tmp_path / "out.jsonl", resume=False, collect=False)
    # The bad last line had not been read when the first scorecard came; it was by the end.
    assert skipped_at_first_card == [0]
    assert (run.cards, run.skipped, run.exit_code) == ([], 1, EXIT_INPUT)


def test_failed_items_give_exit_3_without_keeping_scorecards(tmp_path: Path) -> None:
    def script(request: JudgeRequest) -> Any:
        if request.item_id == "politeness" and "s003" in json.dumps(request.messages, ensure_ascii=False):
            return {"tier": "no-such-tier", "evidence": [], "rationale": "x"}
        return top_tier_answers(RUBRIC, request)

    lines = [dumps({**r, "turns": [*r["turns"], {"speaker": "system", "text": r["id"]}]}) for r in records(6)]
    source = write_jsonl(tmp_path / "c.jsonl", lines)
    grader = Grader(RUBRIC, FakeJudge(script, reasks=0), cache=None)
    batch = stream_batch([source], None, "zh", **OPTIONS)
    run = run_batch(grader, batch, tmp_path / "out.jsonl", resume=False, collect=False)
    assert (run.cards, run.skipped, run.failed, run.exit_code) == ([], 0, 1, EXIT_FAILED)


def test_the_summary_keeps_bounded_rows_and_ids() -> None:
    grader = Grader(RUBRIC)
    conversations = load_conversations(EXAMPLES / "conversations.jsonl")
    cards = grader.grade_many(conversations)
    summary = BatchSummary(max_rows=3, max_ids=2)
    for card in cards:
        failed = card.model_copy(update={"errors": ["boom"]}) if card.conversation_id != "c001" else card
        summary.add(failed)
    assert summary.graded == len(cards) and len(summary.rows) == 3
    assert summary.failed == len(cards) - 1 and summary.failed_ids == ["c002", "c003"]
    assert summary.unscored == sum(1 for c in cards for i in c.items if i.unscored)
    line = summary.failed_line("en")
    assert (
        line
        == f"{len(cards) - 1} conversation(s) with failed items (see their scorecards): c002, c003 … (+{len(cards) - 3})"
    )


# --------------------------------------------------------------------------- the JSONL reader, streamed


def test_stream_conversations_is_lazy_and_reports_duplicates(tmp_path: Path) -> None:
    data = records(3)
    source = write_jsonl(tmp_path / "c.jsonl", [*map(dumps, data), dumps(data[0])])
    stream = stream_conversations(source)
    first = next(stream)
    assert not isinstance(first, ConversationError) and first.id == "s000"
    rest = list(stream)
    assert [getattr(c, "id", None) for c in rest[:2]] == ["s001", "s002"]
    assert isinstance(rest[2], ConversationError)
    assert str(rest[2]) == f"{source}:4: id: duplicate conversation id 's000' (first at {source}:1)"
    with pytest.raises(NotFoundError):
        stream_conversations(tmp_path / "missing.jsonl")  # at once, before anything is read


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "gb18030"])
def test_small_chunks_read_the_same_conversations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    text = "".join(dumps(r) + "\r\n" for r in records(5))
    source = tmp_path / "c.jsonl"
    source.write_bytes(text.encode(encoding))
    given = None if encoding == "utf-16" else encoding
    expected = load_conversations(source, encoding=given)
    monkeypatch.setattr(text_module, "_CHUNK", 7)  # characters cut at every chunk boundary
    streamed = load_conversations(source, encoding=given)
    assert [c.model_dump() for c in streamed] == [c.model_dump() for c in expected] and len(expected) == 5


def test_a_bad_byte_past_the_first_chunk_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [dumps(r).encode() for r in records(4)]
    lines[2] = lines[2].replace(b'"s002"', b'"s\xff02"')
    source = tmp_path / "c.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(text_module, "_CHUNK", 64)
    loaded = load_conversations(source)
    assert list(loaded) == []  # a file that does not decode is refused whole, as before
    assert str(loaded.errors[0]).startswith(f"{source}:3: is not UTF-8 (byte 0xff)")
    explicit = load_conversations(source, encoding="utf-8")
    position = (b"\n".join(lines)).index(b"\xff")
    assert f"can't decode byte 0xff in position {position}: invalid start byte" in str(explicit.errors[0])


@pytest.mark.parametrize(
    ("line", "size"),
    [("x" * 63 + "\r\n", 63), ("x" * 62 + "\r\n", 62), ("x" * 61, 61), ("y" * 5000 + "\n", 5000)],
)
def test_a_line_past_the_limit_is_measured_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, size: int
) -> None:
    small = dataclasses.replace(LIMITS, max_record_chars=60)
    monkeypatch.setattr(text_module, "LIMITS", small)
    monkeypatch.setattr(readers_module, "LIMITS", small)
    good = dumps({"id": "ok", "turns": [{"speaker": "agent", "text": "hi"}]})
    assert len(good) <= 60
    source = tmp_path / "c.jsonl"
    source.write_text(line + ("" if line.endswith("\n") else "\n") + good + "\n", "utf-8")
    loaded = load_conversations(source)
    assert [c.id for c in loaded] == ["ok"]
    assert [str(e) for e in loaded.errors] == [
        f"{source}:1: the line is {size:,} characters long; the limit is 60"
    ]
