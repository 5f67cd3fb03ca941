"""Limits and duplicates: the review server under load and stalled clients, prices
that are not finite, negative usage, duplicate ids in batch results and in Ray rows."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_grader import Grader, LLMGraderError, Rubric, load_rubric
from llm_grader.llm import Price, cost_text, load_prices, priced
from llm_grader.llm._batch_api import BatchResults
from llm_grader.ray import scorecard_rows
from llm_grader.review import ReviewBatch, ReviewServer, VerdictStore, start_review_server
from llm_grader.testing import FakeJudge
from llm_grader.types import Usage

RECORD: dict[str, Any] = {
    "id": "s1",
    "turns": [{"speaker": "customer", "text": "宽带断了"}, {"speaker": "agent", "text": "您好,马上为您查询"}],
}


@pytest.fixture
def review_server(flagship: Rubric, tmp_path: Path) -> Iterator[ReviewServer]:
    card = Grader(flagship, model=FakeJudge.top_tier(flagship), cache=None).grade(RECORD)
    with VerdictStore(tmp_path / "review.sqlite") as store:
        yield start_review_server(ReviewBatch.build(flagship, [card]), store, request_timeout=0.5)


def _port(server: ReviewServer) -> int:
    return int(server.server.server_address[1])


# --------------------------------------------------------------------------- the review server


def test_a_burst_of_connections_is_queued_not_refused(review_server: ReviewServer) -> None:
    # Not serving yet: every connection waits in the listen queue. With the old backlog of 5
    # the seventh connect already timed out (the kernel drops SYNs past a full queue).
    sockets = []
    try:
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", _port(review_server)), timeout=1.0)
            sockets.append(s)
    finally:
        for s in sockets:
            s.close()
        review_server.server.server_close()
    assert len(sockets) == 200


def test_a_request_whose_body_never_arrives_times_out(review_server: ReviewServer) -> None:
    thread = threading.Thread(target=review_server.serve_forever, daemon=True)
    thread.start()
    port = _port(review_server)
    try:
        stalled = socket.create_connection(("127.0.0.1", port), timeout=10)
        stalled.sendall(
            f"POST /verdict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: "
            "application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\npartial".encode()
        )
        silent = socket.create_connection(("127.0.0.1", port), timeout=10)  # sends nothing at all
        # Meanwhile the server answers others.
        with urllib.request.urlopen(review_server.url, timeout=10) as response:
            assert response.status == 200
        started = time.monotonic()
        answer = b""
        while chunk := stalled.recv(4096):
            answer += chunk
        waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.0 408") or answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert waited < 5
        assert silent.recv(4096) == b""  # closed without an answer
        stalled.close()
        silent.close()
        with urllib.request.urlopen(review_server.url, timeout=10) as response:  # still serving
            assert response.status == 200
    finally:
        review_server.shutdown()
        thread.join(timeout=10)


def test_request_timeout_must_be_positive(flagship: Rubric, tmp_path: Path) -> None:
    with VerdictStore(tmp_path / "r.sqlite") as store, pytest.raises(ValueError, match="request_timeout"):
        start_review_server(ReviewBatch.build(flagship, []), store, request_timeout=0)


# --------------------------------------------------------------------------- prices


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0])
def test_a_price_must_be_finite(value: float) -> None:
    with pytest.raises(LLMGraderError, match="price input must be a finite number of at least 0"):
        Price(input=value, output=1.0)
    with pytest.raises(LLMGraderError, match="price cached_input must be a finite number"):
        Price(input=1.0, output=1.0, cached_input=value)


@pytest.mark.parametrize(("name", "text"), [
    ("p.yaml", "openai:\n  models:\n    gpt-x: {input: .inf, output: 1}\n"),
    ("p.yaml", "openai:\n  models:\n    gpt-x: {input: 1, output: .nan}\n"),
    ("p.toml", "[openai.models.gpt-x]\ninput = inf\noutput = 1\n"),
])
def test_a_price_file_with_a_price_that_is_not_finite_is_refused(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LLMGraderError, match=r"openai\.models\.gpt-x\.(input|output): Input should be a finite number"):
        load_prices(path)


def test_negative_usage_is_refused() -> None:
    with pytest.raises(LLMGraderError, match=r"negative token counts \(prompt_tokens=-1000\)"):
        Price(input=2.5, output=10.0).cost(-1000, 0, 50)
    usage = priced(Usage(calls=1, prompt_tokens=-1000, completion_tokens=50), "gpt-4o")
    assert (usage.cost, usage.unpriced_calls) == (None, 1)  # unknown, never a lowered sum
    assert cost_text(usage) == "cost unknown (1 of 1 call(s) unpriced)"
    assert priced(Usage(calls=1, prompt_tokens=1000, completion_tokens=50), "gpt-4o").cost == pytest.approx(0.003)


# --------------------------------------------------------------------------- duplicate ids


def _line(cid: str, content: str) -> str:
    body = {"choices": [{"message": {"role": "assistant", "content": content}}]}
    return json.dumps({"custom_id": cid, "response": {"status_code": 200, "body": body}}) + "\n"


def test_a_duplicate_custom_id_in_batch_results_is_a_failed_line(tmp_path: Path) -> None:
    output, errors = tmp_path / "out.jsonl", tmp_path / "err.jsonl"
    output.write_text(_line("a", "first") + _line("b", "only") + _line("a", "second"), encoding="utf-8")
    errors.write_text(json.dumps({"custom_id": "b", "error": {"code": "x", "message": "y"}}) + "\n", "utf-8")
    results = BatchResults([output, errors])
    duplicate = results.get("a")
    assert duplicate is not None and duplicate.completion is None
    assert duplicate.error == "duplicate custom_id 'a' in out.jsonl (lines 1 and 3)"
    answered = results.get("b")  # an answer still wins over an error line in the error file
    assert answered is not None and answered.error is None and answered.completion is not None


def test_ray_rows_grade_a_duplicate_id_once_and_report_it() -> None:
    rubric = load_rubric("internet_cs_qa")
    other = {**RECORD, "turns": [{"speaker": "agent", "text": "再见"}]}
    rows = [RECORD, {**RECORD, "id": "s2"}, other]
    result = scorecard_rows(Grader(rubric), rows)
    assert [r["conversation_id"] for r in result] == ["s1", "s2", None]
    assert [r["failed"] for r in result[:2]] == [False, False] and result[2]["failed"] is True
    assert result[2]["error"] == "<Dataset>:row 2: duplicate conversation id 's1' (first at row 0)"
    assert result[2]["scorecard_json"] is None
    assert json.loads(result[0]["scorecard_json"])["conversation_id"] == "s1"
