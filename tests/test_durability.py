"""Durability: a full disk, a busy answer cache, Ctrl-C."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_grader import Grader, Rubric
from llm_grader._results import ResultsWriter, count_results, load_results
from llm_grader.conversation import Conversations
from llm_grader.errors import OutputWriteError
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
        assert (f"{len(written)} conversation(s) graded, 1 graded but not written, "
                "0 skipped") in full.stdout
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


# --------------------------------------------------------------------------- 17.5 a busy answer cache

HOLD = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
db.execute("pragma journal_mode=wal")
db.execute("begin exclusive")
db.execute("insert into answers values ('theirs', '{}')")
print("locked", flush=True)
sys.stdin.readline()
db.execute("commit")
print("committed", flush=True)
"""

OPEN = """
import sys
from llm_grader.llm import ResultCache
cache = ResultCache(sys.argv[1])
cache.get("k1")
print("open", flush=True)
sys.stdin.readline()
cache.close()
"""


def holding(script: str, path: Path) -> subprocess.Popen[str]:
    """A second process running ``script`` on ``path``, once it has printed its first line."""
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
    assert proc.stdout is not None and proc.stdout.readline().strip() in ("locked", "open")
    return proc


def release(proc: subprocess.Popen[str]) -> str:
    stdout, _ = proc.communicate("\n", timeout=30)
    assert proc.returncode == 0
    return stdout


def filled(path: Path) -> None:
    from llm_grader.llm import ResultCache

    cache = ResultCache(path)
    for n in range(50):
        cache.put(f"k{n}", f'{{"n": {n}}}')
    cache.close()


def test_a_cache_another_process_is_writing_is_waited_for_never_set_aside(tmp_path: Path) -> None:
    from llm_grader.llm import ResultCache
    from llm_grader.llm._cache import CacheWarning

    path = tmp_path / "answers.sqlite"
    filled(path)
    other = holding(HOLD, path)  # BEGIN EXCLUSIVE, held until told
    try:
        cache = ResultCache(path, busy_timeout=0.2)
        assert cache.get("k7") == '{"n": 7}'  # readers go on beside a writer (WAL)
        with pytest.warns(CacheWarning, match=r"could not be used \(database is locked; another process may be "
                                              r"writing it\): an answer was not read or stored"):
            cache.put("mine", "{}")  # waits 0.2 s for the lock, then does without
        cache.put("mine too", "{}")  # warned once
        assert not list(tmp_path.glob("*.corrupt-*"))
        assert path.with_name("answers.sqlite-wal").exists() and path.with_name("answers.sqlite-shm").exists()
    finally:
        assert release(other).strip() == "committed"  # its write lands: nothing moved under it
    cache.put("mine", "{}")
    assert cache.get("theirs") == "{}" and cache.get("mine") == "{}" and cache.get("k49") == '{"n": 49}'
    cache.close()


def test_a_cache_locked_for_a_moment_is_waited_for(tmp_path: Path) -> None:
    import sqlite3
    import threading

    from llm_grader.llm import ResultCache

    path = tmp_path / "answers.sqlite"
    filled(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("begin immediate")
    other.execute("insert into answers values ('theirs', '{}')")
    timer = threading.Timer(0.3, lambda: other.execute("commit"))
    timer.start()
    cache = ResultCache(path)  # the default busy timeout: seconds
    cache.put("mine", "{}")  # no warning (warnings are errors here): it waited for the commit
    timer.join()
    other.close()
    assert cache.get("mine") == "{}" and cache.get("theirs") == "{}"
    cache.close()


def test_a_damaged_cache_another_process_has_open_is_not_moved(tmp_path: Path) -> None:
    from llm_grader.llm import ResultCache
    from llm_grader.llm._cache import CacheWarning

    path = tmp_path / "answers.sqlite"
    filled(path)
    other = holding(OPEN, path)
    try:
        path.write_bytes(b"\xff" * 9000)  # damaged in place, under the other process
        cache = ResultCache(path)
        with pytest.warns(CacheWarning, match="is damaged .* but another llm-grader process has it open: "
                                              "not moved; this run goes on without the cache"):
            assert cache.get("k1") is None
        cache.put("k1", "{}")
        assert cache.get("k1") is None  # off for this run
        assert not list(tmp_path.glob("*.corrupt-*")) and path.exists()
        cache.close()
    finally:
        release(other)
    again = ResultCache(path)
    with pytest.warns(CacheWarning, match="is damaged .* moved to 'answers.sqlite.corrupt-"):
        again.put("k1", "{}")
    assert again.get("k1") == "{}" and list(tmp_path.glob("answers.sqlite.corrupt-*"))
    again.close()


def test_a_verdict_store_another_process_is_writing_is_busy_not_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_grader.errors import LLMGraderError
    from llm_grader.review import _store as store

    path = tmp_path / "verdicts.sqlite"
    store.VerdictStore(path).close()
    script = HOLD.replace("insert into answers values ('theirs', '{}')", "select 1")
    other = holding(script, path)
    monkeypatch.setattr(store, "BUSY_TIMEOUT", 0.1)
    try:
        with pytest.raises(LLMGraderError, match=r"cannot open the verdict database: database is locked \(another "
                                                 "process may be writing it: try again"):
            store.VerdictStore(path)
    finally:
        release(other)
    store.VerdictStore(path).close()


# --------------------------------------------------------------------------- 17.11 Ctrl-C


def test_ctrl_c_during_grade_says_how_far_it_got_and_resume_counts_what_was_there(tmp_path: Path) -> None:
    import signal
    import time

    from llm_grader import load_rubric

    out = tmp_path / "cards.jsonl"
    with FakeOpenAIServer(top_tier_responder(load_rubric("internet_cs_qa"), delay=0.02)) as server:
        env = {**ENV, "OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": server.base_url, "LLM_GRADER_MODEL": "m"}
        args = [sys.executable, "-m", "llm_grader", "grade", "examples/conversations.jsonl", "-r", "internet_cs_qa",
                "-o", str(out), "--no-cache", "--concurrency", "1"]
        first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, encoding="utf-8")
        deadline = time.monotonic() + 120
        while not (out.exists() and out.read_bytes().count(b"\n") >= 1) and time.monotonic() < deadline:
            time.sleep(0.02)  # polling for the first card, not waiting a guessed time
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=60)
        assert first.returncode == 130, stderr
        done = len(ids(out))
        assert 1 <= done < 14 and "Traceback" not in stderr
        assert stderr.strip().splitlines()[-1] == f"已中断:14 个对话中已完成 {done} 个;加 --resume 重新运行以继续"
        resumed = subprocess.run([*args, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True,
                                 encoding="utf-8", timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{14 - done} conversation(s) graded ({done} already in the file), 0 skipped" in resumed.stdout
    assert sorted(ids(out)) == sorted(set(ids(out))) and len(ids(out)) == 14


def test_ctrl_c_in_process_stops_the_batch_and_reports_n_of_m(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import signal

    from llm_grader import load_rubric
    from llm_grader.cli._console import stream_batch
    from llm_grader.cli._grading import run_batch
    from llm_grader.testing._fake_judge import top_tier_answers

    rubric = load_rubric("internet_cs_qa_en")
    judge: FakeJudge

    def script(request: object) -> object:
        if len(judge.requests) == 31:  # a call in the fourth or fifth conversation
            signal.raise_signal(signal.SIGINT)  # as Ctrl-C: asyncio cancels the run
        return top_tier_answers(rubric, request)  # type: ignore[arg-type]

    judge = FakeJudge(script)
    out = tmp_path / "cards.jsonl"
    batch = stream_batch([EXAMPLES / "conversations.jsonl"], None, "en", format="auto", channel_map=None,
                         time_unit=None, channel=None)
    with pytest.raises(KeyboardInterrupt):
        run_batch(Grader(rubric, model=judge, concurrency=1), batch, out, resume=False)
    # FakeJudge answers without yielding: the conversation in progress runs on to its next await.
    assert 31 <= len(judge.requests) < 31 + 8
    done = len(ids(out))
    assert 1 <= done < 14
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"interrupted after {done} of 14 conversations; rerun with --resume"
    )


# --------------------------------------------------------------------------- 20.2 fsync off the loop


def test_a_slow_fsync_does_not_hold_up_other_conversations_model_calls(
    tmp_path: Path, flagship: Rubric, examples: Conversations, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cards.jsonl"
    judge = FakeJudge.top_tier(flagship)
    calls_during: list[int] = []  # model calls made while each fsync of the results file was in progress
    synced_lines: list[int] = [0]  # whole lines in the file when each fsync ended
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        before = len(judge.requests)
        time.sleep(0.05)  # a slow disk
        real_fsync(fd)
        synced_lines.append(out.read_bytes().count(b"\n"))
        calls_during.append(len(judge.requests) - before)

    monkeypatch.setattr("os.fsync", slow_fsync)
    reported: list[tuple[str, int]] = []  # each card reported written, with the lines synced by then
    Grader(flagship, model=judge, concurrency=4).grade_many(
        examples, output=out, on_scorecard=lambda card: reported.append((card.conversation_id, synced_lines[-1]))
    )
    monkeypatch.undo()
    assert max(calls_during) > 0, calls_during  # the other conversations went on calling the model
    assert len(calls_during) <= len(examples)  # at most one fsync per card (fewer when they come together)
    written = ids(out)
    assert sorted(written) == sorted(c.id for c in examples) and [cid for cid, _ in reported] == written
    for cid, synced in reported:  # no card is reported before the fsync that covers its line ended
        assert written.index(cid) < synced


def test_a_slow_answer_cache_write_does_not_hold_up_model_calls(
    tmp_path: Path, flagship: Rubric, examples: Conversations, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_grader.llm import CachedJudge, ResultCache

    inner = FakeJudge.top_tier(flagship)
    calls_during: list[int] = []  # model calls made while each answer was being stored
    real_put = ResultCache.put

    def slow_put(self: ResultCache, key: str, value: str) -> None:
        before = len(inner.requests)
        time.sleep(0.02)  # a commit waiting for a slow disk
        real_put(self, key, value)
        calls_during.append(len(inner.requests) - before)

    monkeypatch.setattr(ResultCache, "put", slow_put)
    some = examples[:4]
    Grader(flagship, model=CachedJudge(inner, ResultCache(tmp_path / "c.sqlite")), concurrency=4).grade_many(some)
    monkeypatch.undo()
    calls = len(inner.requests)
    assert len(calls_during) == calls  # every answer stored (no logprobs here), after grade_many returned
    assert max(calls_during) > 0, calls_during  # the conversations went on calling the model meanwhile
    again = Grader(flagship, model=CachedJudge(inner, ResultCache(tmp_path / "c.sqlite"))).grade_many(some)
    assert len(inner.requests) == calls and all(card.usage.calls == 0 for card in again)  # all from disk
