"""The command line, run as a user runs it: a subprocess, exit codes, exact messages."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import DATA, EXAMPLES


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "llm_grader", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", cwd=cwd, timeout=60,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_rubric_check_builtin_ok() -> None:
    result = run("rubric", "check", "internet_cs_qa")
    assert result.returncode == 0
    assert result.stdout.startswith("internet_cs_qa: OK — 互联网客服质检标准 v1.3, 6 categories, 10 items, 100 points")


def test_rubric_check_reports_errors_and_exits_1() -> None:
    result = run("rubric", "check", DATA / "bad_rubric.yaml")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 9
    assert lines[0] == f"{DATA / 'bad_rubric.yaml'}:4: max_score: categories add up to 10, not the declared total 100"
    assert lines[-1] == f"{DATA / 'bad_rubric.yaml'}: 8 error(s), 0 warning(s)"


def test_a_problem_on_line_100_prints_its_line_number_not_an_emoji(tmp_path: Path) -> None:
    # rich would turn ":100:" into an emoji: every file:line: message goes out as written.
    text = (DATA / "bad_rubric.yaml").read_text(encoding="utf-8")
    path = tmp_path / "card.yaml"
    path.write_text("#\n" * 96 + text, encoding="utf-8")
    result = run("rubric", "check", path)
    assert f"{path}:100: max_score: categories add up to 10" in result.stderr, result.stderr
    assert "\U0001f4af" not in result.stderr


def test_unknown_rubric_name() -> None:
    result = run("rubric", "check", "nope")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no built-in rubric 'nope'; built-in rubrics: ")


def test_missing_rubric_file() -> None:
    result = run("rubric", "show", "missing.yaml")
    assert (result.returncode, result.stderr) == (1, "error: rubric file 'missing.yaml' does not exist\n")


def test_rubric_show_and_item() -> None:
    result = run("rubric", "show", "internet_cs_qa")
    assert result.returncode == 0
    assert "服务礼貌用语规范使用" in result.stdout and "override fatal service_taboo_fatal" in result.stdout
    item = run("rubric", "show", "internet_cs_qa", "--item", "soothing")
    assert "not applicable when: 整体话务不涉及客户情绪波动 (policy: full)" in item.stdout
    bad = run("rubric", "show", "internet_cs_qa", "--item", "nope")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: rubric 'internet_cs_qa' has no item 'nope'; valid items: politeness,")


@pytest.mark.parametrize(("language", "expected"), [
    ("zh", "  deduction: −10/次, 严重×2, 上限30, 扣自 job_number_refused"),
    ("en", "  deduction: −10/occurrence, severe ×2, cap 30, deducted from job_number_refused"),
])
def test_rubric_show_speaks_the_rubric_language(tmp_path: Path, language: str, expected: str) -> None:
    from llm_grader.rubric import builtin_rubrics

    text = builtin_rubrics()["service_norms_deductions"].read_text(encoding="utf-8")
    text = text.replace("deduction: {points: 10, severe_multiplier: 1}",
                        "deduction: {points: 10, severe_multiplier: 2, cap: 30, applies_to: [job_number_refused]}", 1)
    source = tmp_path / "deductions.yaml"
    source.write_text(text.replace("language: zh", f"language: {language}"), encoding="utf-8")
    result = run("rubric", "show", source, "--item", "commanding_tone")
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout.splitlines()
    zh_note = run("rubric", "show", "internet_cs_qa", "--item", "politeness").stdout
    en_note = run("rubric", "show", "internet_cs_qa_en", "--item", "politeness").stdout
    assert "\n  备注/note: " in zh_note and "\n  note: If a service taboo" in en_note
    rule = run("rubric", "show", "internet_cs_qa_en", "--item", "first_response_time",
               "--conversation", EXAMPLES / "conversations.jsonl", "--id", "c002")
    assert rule.stdout == ("item 'first_response_time' is judged by a rule, not a prompt: "
                           "first response after 95 s (from customer turn 2 to agent turn 3)\n")


def test_rubric_check_starts_without_the_model_client_or_plotting() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "llm_grader", "rubric", "check", "internet_cs_qa"],
        capture_output=True, text=True, encoding="utf-8", timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "llm_grader" in imported
    assert imported.isdisjoint({"openai", "instructor", "matplotlib", "jinja2", "numpy"})


def test_grade_rules_only_writes_scorecards(tmp_path: Path) -> None:
    out = tmp_path / "cards.jsonl"
    result = run("grade", EXAMPLES / "conversations.jsonl", "-r", "internet_cs_qa", "--rules-only", "-o", out)
    assert result.returncode == 0, result.stderr
    cards = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(cards) == 14
    c002 = next(c for c in cards if c["conversation_id"] == "c002")
    items = {i["item_id"]: i for i in c002["items"]}
    assert items["first_response_time"]["tier"] == "poor"
    assert items["politeness"]["error"] == "未评分:该项需由模型评判,当前未配置模型(仅规则模式)"
    assert items["politeness"]["needs_review"] is True and items["politeness"]["points"] is None
    assert "14 conversation(s) graded, 0 skipped" in result.stdout
    assert "首次回应用时 95 秒" in result.stdout


def test_grade_needs_a_model_or_rules_only(tmp_path: Path) -> None:
    result = run("grade", EXAMPLES / "conversations.jsonl", "-r", "internet_cs_qa", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ("error: no model configured: pass --model or set LLM_GRADER_MODEL, "
                             "or grade the rule items only with --rules-only\n")


def test_grade_skips_a_bad_conversation_and_grades_the_rest(tmp_path: Path) -> None:
    lines = (EXAMPLES / "conversations.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    lines.insert(1, '{"id": "broken", "turns": [{"speaker": "经理", "text": "hi"}]}')
    source = tmp_path / "batch.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "cards.jsonl"
    result = run("grade", source, "-r", "internet_cs_qa", "--rules-only", "-o", out)
    assert result.returncode == 1
    assert result.stderr.startswith(f"skipped: {source}:2: turns[0].speaker: unknown speaker '经理'")
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


def test_grade_missing_input(tmp_path: Path) -> None:
    result = run("grade", tmp_path / "none.jsonl", "-r", "internet_cs_qa", "--rules-only")
    assert result.returncode == 1
    assert result.stderr == f"error: conversation file '{tmp_path / 'none.jsonl'}' does not exist\n"


def test_grade_gbk_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    source = tmp_path / "gbk.txt"
    source.write_bytes("客服：您好\n客户：你好\n".encode("gb18030"))
    result = run("grade", source, "-r", "internet_cs_qa", "--rules-only", "-o", tmp_path / "o.jsonl")
    assert result.returncode == 1
    assert f"skipped: {source}:1: is not UTF-8 (byte 0xbf); it looks like GBK/GB18030" in result.stderr
    ok = run("grade", source, "-r", "internet_cs_qa", "--rules-only", "--encoding", "gb18030",
             "-o", tmp_path / "o.jsonl")
    assert ok.returncode == 0


def test_resume_skips_finished_conversations(tmp_path: Path) -> None:
    out = tmp_path / "cards.jsonl"
    run("grade", EXAMPLES / "conversations.jsonl", "-r", "internet_cs_qa", "--rules-only", "-o", out)
    text = out.read_text(encoding="utf-8").splitlines(keepends=True)
    # Simulate a killed run: five complete lines and a torn sixth.
    out.write_text("".join(text[:5]) + text[5][:40], encoding="utf-8")
    result = run("grade", EXAMPLES / "conversations.jsonl", "-r", "internet_cs_qa", "--rules-only",
                 "-o", out, "--resume")
    assert result.returncode == 0
    ids = [json.loads(line)["conversation_id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(ids) == sorted({*ids}) and len(ids) == 14
    assert "9 conversation(s) graded" in result.stdout


@pytest.mark.parametrize("args", [["--version"], ["rubric", "schema"]])
def test_misc_commands(args: list[str]) -> None:
    assert run(*args).returncode == 0


# ----------------------------------------------------------------------------- with a model

KEY = "sk-cli-SECRET-9876"


def run_env(*args: str | Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "llm_grader", *map(str, args)], cwd=cwd, text=True, encoding="utf-8",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8", **env},
    )


def test_grade_with_a_model_resumes_after_a_kill_and_never_writes_the_key(tmp_path: Path) -> None:
    from llm_grader import load_rubric
    from llm_grader.testing import FakeOpenAIServer, top_tier_responder

    out = tmp_path / "cards.jsonl"
    with FakeOpenAIServer(top_tier_responder(load_rubric("internet_cs_qa"), delay=0.05)) as server:
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url, "LLM_GRADER_MODEL": "fake-model"}
        args = ["grade", EXAMPLES / "conversations.jsonl", "-r", "internet_cs_qa", "-o", out,
                "--concurrency", "1", "--cache", tmp_path / "cache" / "answers.sqlite"]
        first = run_env(*args, env=env, cwd=tmp_path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if out.exists() and out.read_text(encoding="utf-8").count("\n") >= 3:
                break
            time.sleep(0.05)
        first.kill()  # SIGKILL: no clean-up runs
        first.communicate(timeout=30)
        before = [json.loads(line)["conversation_id"] for line in out.read_text(encoding="utf-8").splitlines()]
        assert 3 <= len(before) < 14
        second = run_env(*args, "--resume", env=env, cwd=tmp_path)
        stdout, stderr = second.communicate(timeout=120)
    assert second.returncode == 0, stderr
    assert "Traceback" not in stderr
    ids = [json.loads(line)["conversation_id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(ids) == len(set(ids)) == 14 and ids[: len(before)] == before
    assert f"{14 - len(before)} conversation(s) graded" in stdout
    cards = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(c["model"] == "fake-model" for c in cards)
    assert next(c for c in cards if c["conversation_id"] == "c007")["total_score"] == 100
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in stdout + stderr


def test_second_run_is_served_from_the_cache(tmp_path: Path) -> None:
    from llm_grader import load_rubric
    from llm_grader.testing import FakeOpenAIServer, top_tier_responder

    with FakeOpenAIServer(top_tier_responder(load_rubric("internet_cs_qa"))) as server:
        env = {"OPENAI_API_KEY": KEY, "LLM_GRADER_MODEL": "fake-model", "LLM_GRADER_CACHE_DIR": str(tmp_path / "user")}
        args = ["grade", EXAMPLES / "conversations.jsonl", "-r", "internet_cs_qa", "--base-url", server.base_url]
        first = run_env(*args, "-o", tmp_path / "a.jsonl", env=env, cwd=tmp_path).communicate(timeout=120)[0]
        calls = len(server.requests)
        second = run_env(*args, "-o", tmp_path / "b.jsonl", env=env, cwd=tmp_path).communicate(timeout=120)[0]
        assert len(server.requests) == calls
    assert f"{calls} call(s), 0 cached" in first
    assert f"0 call(s), {calls} cached, 0 prompt + 0 completion tokens" in second
    assert (tmp_path / "user" / "answers.sqlite").exists()  # the per-user cache, never the working directory
    assert not (tmp_path / ".llm-grader-cache").exists()


def test_calibrate_on_the_eval_set_writes_the_four_report_forms(tmp_path: Path) -> None:
    import json as _json

    from llm_grader import Grader, load_conversations, load_rubric
    from llm_grader.testing import FakeOpenAIServer, simulated_responder

    cal = EXAMPLES.parent / "eval" / "calibration"
    rubric = load_rubric("internet_cs_qa")
    batch = load_conversations(cal / "conversations.jsonl")
    truth = {(r["conversation_id"], r["item_id"]): r
             for r in map(_json.loads, (cal / "truth.jsonl").read_text(encoding="utf-8").splitlines())}
    responder = simulated_responder(Grader(rubric), list(batch), truth, error_rates=0.2, seed=0)
    results = tmp_path / "cards.jsonl"
    with FakeOpenAIServer(responder) as server:
        env = {"OPENAI_API_KEY": KEY, "LLM_GRADER_MODEL": "sim", "OPENAI_BASE_URL": server.base_url}
        args = ["calibrate", "-r", "internet_cs_qa", "--human", cal / "human_scores.csv",
                "--conversations", cal / "conversations.jsonl", "--results", results, "--bootstrap", "200"]
        first = run_env(*args, "-o", tmp_path / "report", env=env, cwd=tmp_path)
        stdout, stderr = first.communicate(timeout=300)
        assert first.returncode == 0, stderr
        calls = len(server.requests)
        second = run_env(*args, "-o", tmp_path / "again", env=env, cwd=tmp_path)
        again, _ = second.communicate(timeout=300)
        assert len(server.requests) == calls  # --results reused: no model call
    assert calls == 48 * 8 + 24  # 8 model items each, record_accuracy on the 24 with notes
    assert "与人工评分的一致性 — 48 条对话" in stdout and "reusing 48 scorecard(s)" in again  # a zh rubric: Chinese table title
    for name in ("report.md", "report.html", "report.json", "plots/kappa_by_item.png", "plots/confusion_matrices.png"):
        assert (tmp_path / "report" / name).stat().st_size > 500, name
    report = _json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert report["conversations"] == 48 and report["raters"] == ["rater_a", "rater_b"]
    assert {i["item_id"] for i in report["items"]} >= {"politeness", "soothing", "proactiveness"}


def test_rescore_command(tmp_path: Path) -> None:
    results = tmp_path / "cards.jsonl"
    run("grade", EXAMPLES / "conversations.jsonl", "-r", "phone_answering", "--rules-only", "-o", results)
    from llm_grader.rubric import builtin_rubrics

    text = builtin_rubrics()["phone_answering"].read_text(encoding="utf-8")
    changed = tmp_path / "phone_v2.yaml"
    # A new version with the same items: the stored answers serve it as they are.
    changed.write_text(text.replace('version: "1.1"', 'version: "1.2"'), encoding="utf-8")
    ok = run("rescore", results, "-r", changed, "-o", tmp_path / "out.jsonl")
    assert ok.returncode == 0, ok.stderr
    assert "14 scorecard(s) rescored with no model call, 0 total(s) changed" in ok.stdout
    reworded = tmp_path / "phone_v3.yaml"
    reworded.write_text(text.replace("name: 规范欢迎词", "name: 规范欢迎语"), encoding="utf-8")
    refused = run("rescore", results, "-r", reworded)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: cannot rescore with {reworded}: the wording, tiers, flags or rule "
                                     "of these items changed (or they are new): standard_greeting; grade them again")


def test_sampling_without_a_temperature_samples_at_the_sampling_temperature(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # make_grader once named SAMPLING_TEMPERATURE without importing it: `grade --samples 2`
    # with no --temperature failed with a NameError before any call.
    from llm_grader import load_rubric
    from llm_grader._grader import SAMPLING_TEMPERATURE
    from llm_grader.cli._grading import make_grader

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    rubric = load_rubric("internet_cs_qa")
    grader = make_grader(rubric, model="m", base_url="http://127.0.0.1:9/v1", samples=2, no_cache=True)
    assert grader.judge is not None and grader.judge.identity["params"] == {"temperature": SAMPLING_TEMPERATURE}
    single = make_grader(rubric, model="m", base_url="http://127.0.0.1:9/v1", no_cache=True)
    assert single.judge is not None and single.judge.identity["params"] == {"temperature": 0.0}
