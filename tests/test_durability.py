"""Issue 17 points 3, 5 and 11: a full disk, a busy answer cache, Ctrl-C."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_grader import Grader, Rubric
from llm_grader.conversation import Conversations
from llm_grader.errors import OutputWriteError
from llm_grader.results import ResultsWriter, count_results, load_results
from llm_grader.testing import FakeJudge, FakeOpenAIServer, top_tier_responder

from ._faults import FullDisk

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llm_grader", *map(str, args)], capture_output=True, text=True, encoding="utf-8",
        cwd=ROOT, timeout=180, env={**ENV, **(env or {})},
    )


def on_full_disk(path: Path, room: int, *args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``llm-grader ARGS`` in a subprocess whose ``path`` may grow to ``room`` bytes only."""
    code = "import tests._faults as f; f.main()"
    return subprocess.run(
        [sys.executable, "-c", code, str(path), str(room), "--", *map(str, args)], capture_output=True,
        text=True, encoding="utf-8", cwd=ROOT, timeout=180, env={**ENV, **env},
    )


def ids(path: Path) -> list[str]:
    return [json.loads(line)["conversation_id"] for line in path.read_text(encoding="utf-8").splitlines()]


# --------------------------------------------------------------------------- 17.3 a full disk


@pytest.mark.parametrize("fault", ["short write", "fsync"])
def test_a_full_disk_cuts_the_results_file_back_to_whole_lines(
    tmp_path: Path, flagship: Rubric, examples: Conversations, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    cards = [Grader(flagship).grade(c) for c in examples]
    lines = [(c.model_dump_json() + "\n").encode() for c in cards]
    out = tmp_path / "cards.jsonl"
    # Room for three lines and half of the fourth: the fourth is written in part, then ENOSPC.
    disk = (FullDisk(out, sum(map(len, lines[:3])) + len(lines[3]) // 2) if fault == "short write"
            else FullDisk(out, fsync_after=3))
    monkeypatch.setattr("os.write", disk.write)
    monkeypatch.setattr("os.fsync", disk.fsync)
    writer = ResultsWriter(out)
    written = []
    with pytest.raises(OutputWriteError) as caught:
        for card in cards:
            writer.write(card)
            written.append(card.conversation_id)
    assert written == [c.conversation_id for c in cards[:3]]  # every card reported written is in the file
    assert out.read_bytes() == b"".join(lines[:3])  # nothing torn, nothing glued
    if fault == "short write":
        assert disk.short_writes == 1
    error = caught.value
    assert error.path == str(out) and error.errno == 28
    assert str(error).startswith(f"cannot write to results file {str(out)!r}: No space left on device (ENOSPC); "
                                 "the run stopped, it keeps every scorecard written before, as whole lines")
    with pytest.raises(OutputWriteError) as again:  # the writer stays stopped: no line after a failed one
        writer.write(cards[5])
    assert again.value is error
    writer.close()
    monkeypatch.undo()
    assert out.read_bytes() == b"".join(lines[:3])
    assert [c.conversation_id for c in load_results(out)] == written
    resumed = ResultsWriter(out, resume=True)
    assert resumed.done == set(written)
    resumed.close()


def test_grade_many_stops_at_a_full_disk_and_calls_no_model_after_it(
    tmp_path: Path, flagship: Rubric, examples: Conversations, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cards.jsonl"
    judge = FakeJudge.top_tier(flagship)
    disk = FullDisk(out, 40_000)  # four cards and a part of the fifth (~9 KB each)
    at_error: list[int] = []
    real_write = disk.write

    def write(fd: int, data: bytes) -> int:
        try:
            return real_write(fd, data)
        except OSError:
            at_error.append(len(judge.requests))
            raise

    monkeypatch.setattr("os.write", write)
    monkeypatch.setattr("os.fsync", disk.fsync)
    seen: list[str] = []
    with pytest.raises(OutputWriteError) as caught:
        Grader(flagship, model=judge, concurrency=4).grade_many(
            examples, output=out, on_scorecard=lambda card: seen.append(card.conversation_id)
        )
    monkeypatch.undo()
    assert at_error and len(judge.requests) == at_error[0]  # not one model call after the error
    unwritten = [c.conversation_id for c in caught.value.unwritten]
    assert len(unwritten) == 1 and unwritten[0] not in seen
    assert ids(out) == seen and 0 < len(seen) < len(examples)
    assert count_results(out) == len(seen)


def test_cli_grade_on_a_full_disk_stops_with_one_line_and_resume_and_report_accept_the_file(tmp_path: Path) -> None:
    from llm_grader import load_rubric

    out = tmp_path / "cards.jsonl"
    with FakeOpenAIServer(top_tier_responder(load_rubric("internet_cs_qa"))) as server:
        env = {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": server.base_url, "LLM_GRADER_MODEL": "fake-model"}
        args = ["grade", "examples/conversations.jsonl", "-r", "internet_cs_qa", "-o", out, "--no-cache",
                "--concurrency", "1"]
        full = on_full_disk(out, 40_000, *args, env=env)
        requests = len(server.requests)
        assert full.returncode == 6, full.stderr
        errors = [line for line in full.stderr.splitlines() if line.startswith("error:")]
        assert errors == [f"error: cannot write to results file {str(out)!r}: No space left on device (ENOSPC); "
                          "the run stopped, it keeps every scorecard written before, as whole lines; "
                          "make room (or choose another -o) and rerun with --resume"]
        assert "Traceback" not in full.stderr
        written = ids(out)
        assert 0 < len(written) < 14 and out.read_bytes().endswith(b"\n")
        assert (f"{len(written)} conversation(s) graded, 1 graded but not written (the file could not be "
                "written), 0 skipped") in full.stdout
        # Every request made is counted on the closing line: none after the error.
        assert f"; {requests} call(s), 0 cached" in full.stdout
        assert requests < 14 * 8

        resumed = cli(*args, "--resume", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert (f"{14 - len(written)} conversation(s) graded ({len(written)} already in the file), 0 skipped"
            in resumed.stdout)
    final = ids(out)
    assert final[: len(written)] == written and sorted(final) == sorted(set(final)) and len(final) == 14
    report = cli("report", out, "-o", tmp_path / "report.html")
    assert report.returncode == 0, report.stderr
