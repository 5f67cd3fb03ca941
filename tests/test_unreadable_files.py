"""No traceback, whatever the bytes: one ``file:line: message`` line and exit 1.

Invalid UTF-8 in a results file (``report``, ``rescore``, ``export``, ``review apply``), in
``calibrate --human`` and in ``--prices``; deeply nested price tables; tampered batch state
files; and any unexpected exception, which the CLI-wide guard turns into one line naming the
command and asking for a bug report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llm_grader import Grader, load_conversations, load_rubric
from llm_grader._results import ResultsWriter, read_results
from llm_grader.batch import BatchState
from llm_grader.calibration import load_human_scores
from llm_grader.errors import InputError, LLMGraderError
from llm_grader.llm import load_prices
from llm_grader.review import VerdictStore

from .conftest import EXAMPLES, ROOT

CONVERSATIONS = EXAMPLES / "conversations.jsonl"


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command line of this checkout (PYTHONPATH), in a scrubbed environment."""
    return subprocess.run(
        [sys.executable, "-m", "llm_grader", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", cwd=cwd, timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(ROOT)},
    )


def one_line(result: subprocess.CompletedProcess[str], start: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(start), result.stderr


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results file whose second line holds a byte that is not UTF-8."""
    path = tmp_path_factory.mktemp("results") / "cards.jsonl"
    writer = ResultsWriter(path)
    for card in Grader(load_rubric("internet_cs_qa")).grade_many(load_conversations(CONVERSATIONS)):
        writer.write(card)
    writer.close()
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"conversation_id":"', b'"conversation_id":"\xff\xfe', 1)
    path.write_bytes(b"\n".join(lines))
    return path


@pytest.mark.parametrize("command", [
    ["report", "{r}", "-o", "page.html"],
    ["rescore", "{r}", "-r", "internet_cs_qa", "-o", "again.jsonl"],
    ["export", "{r}", "-o", "table.csv"],
    ["review", "apply", "{r}", "-r", "internet_cs_qa", "-o", "final.jsonl", "--db", "{db}"],
    ["calibrate", "-r", "internet_cs_qa", "--conversations", str(CONVERSATIONS), "--human", "{h}",
     "--results", "{ok}", "-o", "report"],
])
def test_invalid_utf8_in_results_and_human_scores_is_one_line(
    command: list[str], results: Path, tmp_path: Path
) -> None:
    human = tmp_path / "human.csv"
    human.write_bytes(b"conversation_id,rater,item_id,value\nc001,qa1,politeness,good\nc002,\xc3,politeness,good\n")
    good = tmp_path / "good.jsonl"
    good.write_bytes(b"")
    with VerdictStore(tmp_path / "review.sqlite"):
        pass
    args = [a.format(r=results, h=human, ok=good, db=tmp_path / "review.sqlite") for a in command]
    bad, line = (human, 3) if command[0] == "calibrate" else (results, 2)
    result = run(*args, cwd=tmp_path)
    one_line(result, f"error: {bad}:{line}: not UTF-8 text (byte 0x")
    assert "save the" in result.stderr


def test_a_torn_last_line_cut_inside_a_character_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "cards.jsonl"
    card = next(iter(Grader(load_rubric("internet_cs_qa")).grade_many(load_conversations(CONVERSATIONS))))
    line = card.model_dump_json().encode()
    cut = line.index("宽".encode()) + 1  # inside the character: a run killed mid-write
    path.write_bytes(line + b"\n" + line[:cut])
    assert [c.conversation_id for c in read_results(path)] == [card.conversation_id]


@pytest.mark.parametrize(("name", "content", "start"), [
    ("p.yaml", b"openai:\n  models:\n    x: {input: 1, output: \xff}\n", "{p}:3: not UTF-8 text (byte 0xff at column 27"),
    ("p.toml", b"[openai.models.x]\ninput = \xe4\xb8\noutput = 1\n", "{p}:2: not UTF-8 text"),
    ("p.yaml", b"openai: " + b"[" * 5_000 + b"]" * 5_000 + b"\n", "{p}:1: nested deeper than 64 levels"),
    ("p.yaml", b"openai:\n" + b"".join(b" " * i + b"k%d:\n" % i for i in range(1, 900)),
     "{p}:65: nested deeper than 64 levels"),
    ("p.toml", b"a = " + b"[" * 5_000 + b"]" * 5_000 + b"\n", "{p}: not valid TOML: nested too deeply"),
    ("p.yaml", b'b0: &b0 ["lol", "lol"]\n' + b"".join(b"b%d: &b%d [%s]\n" % (i, i, b", ".join([b"*b%d" % (i - 1)] * 10))
                                                    for i in range(1, 9)), "{p}:"),
])
def test_a_bad_price_file_is_one_line(tmp_path: Path, name: str, content: bytes, start: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_prices(path)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(start.format(p=path))
    result = run("grade", CONVERSATIONS, "-r", "internet_cs_qa", "--model", "gpt-4o-mini", "--prices", path,
                 "--dry-run", cwd=tmp_path)
    one_line(result, "error: " + start.format(p=path))


def test_human_scores_jsonl_that_is_not_objects_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "human.jsonl"
    path.write_text('[1, 2]\n"x"\n' + "[" * 100_000 + "]" * 100_000 + "\n" + "1" + "0" * 5_000 + "\n",
                    encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_human_scores(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3: invalid JSON: nested too deeply",
        f"{path}:4: invalid JSON: Exceeds the limit (4300 digits) for integer string conversion: value has "
        "5001 digits; use sys.set_int_max_str_digits() to increase the limit",
        f"{path}:1: expected an object with conversation_id, rater, item_id, value, got list",
        f"{path}:2: expected an object with conversation_id, rater, item_id, value, got str",
    ]


def test_a_tampered_state_files_long_key_is_cut_in_its_message(tmp_path: Path) -> None:
    # Found by eval/bench_fuzz.py: the field a problem names comes from the file.
    path = tmp_path / "cards.jsonl.batch.json"
    key = "长" * 5_000
    path.write_text('{"version": 1, "' + key + '": 1}', encoding="utf-8")
    with pytest.raises(LLMGraderError) as caught:
        BatchState.load(path)
    shown = str(caught.value)
    assert "\n" not in shown and len(shown) < len(str(path)) + 300 and shown.endswith("delete it to submit anew")


@pytest.mark.parametrize(("content", "start"), [
    (b"[" * 100_000 + b"]" * 100_000, "{p}: not a batch state file of this version (nested too deeply)"),
    (b'{"version": 1, \xff}', "{p}:1: not UTF-8 text"),
    (b'{"version": 1,\n "parts": [{"a\\nb\\nc": 1}], "rubric": {}, "judge": {}, "options": {}, "conversations": []}',
     "{p}: rubric.id: missing"),
    (b'{"version": 1, "parts": 5}', "{p}: conversations: missing"),
    (b'{"version": 1, "x": ' + b"9" * 5_000 + b"}", "{p}: not a batch state file of this version (Exceeds"),
])
def test_a_tampered_batch_state_file_is_one_line(tmp_path: Path, content: bytes, start: str) -> None:
    path = tmp_path / "cards.jsonl.batch.json"
    path.write_bytes(content)
    with pytest.raises(LLMGraderError) as caught:
        BatchState.load(path)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(start.format(p=path)), str(caught.value)
    assert str(caught.value).endswith("delete it to submit anew")


# --------------------------------------------------------------------------- the CLI-wide guard


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    from llm_grader.cli import main

    monkeypatch.setattr(sys, "argv", ["llm-grader", *argv])
    with pytest.raises(SystemExit) as caught:
        main()
    code = caught.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def test_the_guard_turns_a_bug_into_one_line_naming_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import llm_grader._export

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("boom\n  at the second line, key sk-abcdefghijkl")

    monkeypatch.setattr(llm_grader._export, "export_results", broken)
    code, err = _main(monkeypatch, capsys, "export", str(tmp_path / "r.jsonl"), "-o", str(tmp_path / "x.csv"))
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith("error: llm-grader export failed unexpectedly (RuntimeError: boom at the second line, "
                          "key sk-***); this is a bug in llm-grader: please report it")
    assert "Traceback" not in err

    import llm_grader.review

    def keyerror(*args: object, **kwargs: object) -> None:
        raise KeyError("x")

    monkeypatch.setattr(llm_grader.review.ReviewBatch, "build", keyerror)
    (tmp_path / "r.jsonl").write_text("", encoding="utf-8")
    code, err = _main(monkeypatch, capsys, "review", "apply", str(tmp_path / "r.jsonl"), "-r", "internet_cs_qa",
                      "-o", str(tmp_path / "f.jsonl"))
    assert code == 1 and err.startswith("error: llm-grader review apply failed unexpectedly (KeyError: 'x')"), err


def test_the_guard_shows_the_traceback_when_asked_and_lets_ctrl_c_through(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import llm_grader._export

    def broken(*args: object, **kwargs: object) -> int:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(llm_grader._export, "export_results", broken)
    monkeypatch.setenv("LLM_GRADER_TRACEBACK", "1")
    code, err = _main(monkeypatch, capsys, "export", str(tmp_path / "r.jsonl"), "-o", str(tmp_path / "x.csv"))
    assert code == 1 and "Traceback (most recent call last)" in err and "in broken" in err
    assert err.splitlines()[-1].startswith("error: llm-grader export failed unexpectedly (ZeroDivisionError")

    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(llm_grader._export, "export_results", interrupted)
    monkeypatch.delenv("LLM_GRADER_TRACEBACK")
    code, err = _main(monkeypatch, capsys, "export", str(tmp_path / "r.jsonl"), "-o", str(tmp_path / "x.csv"))
    assert "failed unexpectedly" not in err and "bug" not in err  # Ctrl-C is not a bug
    assert code != 0
