"""Watching and gating a run: agreement gates (calibrate --min-kappa, assert_agreement),
the progress bar / callback of grade_many, and the optional OpenTelemetry spans."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llm_grader import Grader, Progress
from llm_grader import _progress as progress_module
from llm_grader._results import ResultsWriter
from llm_grader.calibration import (
    CalibrationReport,
    HumanScore,
    agreement_failures,
    assert_agreement,
    calibrate,
    overall_kappa,
)
from llm_grader.conversation import Conversation
from llm_grader.llm import JudgeRequest, ModelResult
from llm_grader.rubric import rubric_from_text
from llm_grader.scoring import Scorecard, score
from llm_grader.testing import FakeJudge, top_tier_answer
from llm_grader.types import Judgement, Usage

RUBRIC_TEXT = """\
id: gate
name: 门槛
version: "1"
max_score: 20
categories:
  - id: c
    name: 类
    items:
      - id: quality
        name: 质量
        points: 10
        tiers: [{id: good, label: 好, points: 10}, {id: fair, label: 一般, points: 6}, {id: poor, label: 差, points: 0}]
      - id: greeting
        name: 开头语
        points: 10
        scale: binary
"""
CARD = rubric_from_text(RUBRIC_TEXT)
TIERS = ["poor", "fair", "good"]
N = 24


def _scores(*, greeting_wrong_every: int = 2) -> tuple[list[Scorecard], list[HumanScore]]:
    """`quality` always agrees with the human; `greeting` is wrong on every other conversation."""
    cards, humans = [], []
    for i in range(N):
        truth_q = TIERS[i % 3]
        truth_g = "pass" if i % 4 < 2 else "fail"
        model_g = truth_g if i % greeting_wrong_every else ("fail" if truth_g == "pass" else "pass")
        judgements = [Judgement(item_id="quality", tier=truth_q), Judgement(item_id="greeting", tier=model_g)]
        cards.append(score(CARD, judgements, conversation_id=f"u{i}"))
        humans += [
            HumanScore(conversation_id=f"u{i}", rater="a", item_id="quality", value=truth_q),
            HumanScore(conversation_id=f"u{i}", rater="a", item_id="greeting", value=truth_g),
        ]
    return cards, humans


@pytest.fixture(scope="module")
def report() -> CalibrationReport:
    cards, humans = _scores()
    return calibrate(CARD, cards, humans, n_boot=50, seed=0)


# ----------------------------------------------------------------------------- gates


def test_the_report_has_one_good_and_one_bad_item(report: CalibrationReport) -> None:
    kappas = {i.item_id: i.model_human.kappa for i in report.items}
    assert kappas["quality"] == pytest.approx(1.0)
    assert kappas["greeting"] < 0.1
    assert overall_kappa(report) == pytest.approx((kappas["quality"] + kappas["greeting"]) / 2)


def test_assert_agreement_names_only_the_failing_items(report: CalibrationReport) -> None:
    with pytest.raises(AssertionError) as failed:
        assert_agreement(report, min_kappa=0.6)
    message = str(failed.value)
    assert "1 check(s)" in message
    assert "greeting: kappa " in message and "< 0.600 (n=24, 95% CI [" in message
    assert "quality" not in message
    assert_agreement(report, min_kappa=0.6, items=["quality"])
    assert_agreement(report, items={"quality": 0.99, "greeting": -0.5})
    with pytest.raises(AssertionError, match=r"quality: kappa 1\.000 < 1\.000|greeting"):
        assert_agreement(report, items={"greeting": 0.5})


def test_assert_agreement_gates_the_overall_mean_too(report: CalibrationReport) -> None:
    mean = overall_kappa(report)
    with pytest.raises(AssertionError, match=r"overall: mean kappa .* \(mean of 2 item\(s\)\)"):
        assert_agreement(report, items=[], overall=mean + 0.01)
    assert_agreement(report, items=[], overall=mean - 0.01)


def test_undefined_kappa_fails_with_a_clear_message() -> None:
    # Every pair is (good, good): kappa is undefined, and that is never a pass.
    cards = [score(CARD, [Judgement(item_id="quality", tier="good")], conversation_id=f"u{i}") for i in range(6)]
    humans = [HumanScore(conversation_id=f"u{i}", rater="a", item_id="quality", value="good") for i in range(6)]
    nan_report = calibrate(CARD, cards, humans, n_boot=10)
    assert math.isnan(overall_kappa(nan_report))
    with pytest.raises(AssertionError, match=r"quality: kappa undefined \(NaN, n=6"):
        assert_agreement(nan_report, min_kappa=-1.0)
    assert agreement_failures(nan_report, overall=0.0) == [
        "overall: kappa undefined (NaN: no item has a defined kappa) — counts as below 0.000"
    ]


def test_undefined_items_are_left_out_of_the_mean_and_named() -> None:
    cards, humans = _scores()
    # greeting: the humans and the model always say "pass", so its kappa is undefined.
    cards = [
        score(CARD, [Judgement(item_id="quality", tier=TIERS[i % 3]), Judgement(item_id="greeting", tier="pass")],
              conversation_id=f"u{i}")
        for i in range(N)
    ]
    humans = [h if h.item_id == "quality" else h.model_copy(update={"value": "pass"}) for h in humans]
    mixed = calibrate(CARD, cards, humans, n_boot=10)
    assert overall_kappa(mixed) == pytest.approx(1.0)
    assert agreement_failures(mixed, overall=0.5) == []
    assert agreement_failures(mixed, overall=1.0) == []  # 1.0 is not below 1.0
    (line,) = agreement_failures(mixed, overall=1.0, items={"greeting": 0.1})
    assert line.startswith("greeting: kappa undefined")
    with pytest.raises(AssertionError, match="greeting: kappa undefined"):
        assert_agreement(mixed)


def test_unknown_items_and_bad_thresholds(report: CalibrationReport) -> None:
    (line,) = agreement_failures(report, items={"politness": 0.5})
    assert line == "politness: not in the calibration report (items compared: quality, greeting)"
    with pytest.raises(ValueError, match="between -1 and 1"):
        agreement_failures(report, overall=1.5)
    with pytest.raises(ValueError, match="greeting: a kappa threshold"):
        agreement_failures(report, items={"greeting": math.nan})
    with pytest.raises(TypeError):
        assert_agreement(report, items="quality")


# ----------------------------------------------------------------------------- calibrate --min-kappa


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "llm_grader", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", cwd=cwd, timeout=120,
        # PYTHONPATH: this checkout's code, not whichever llm_grader the interpreter has installed
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8",
             "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def calibration_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gate")
    (root / "gate.yaml").write_text(RUBRIC_TEXT, encoding="utf-8")
    cards, humans = _scores()
    with (root / "conversations.jsonl").open("w", encoding="utf-8") as f:
        for i in range(N):
            turns = [{"speaker": "agent", "text": "您好"}, {"speaker": "customer", "text": "你好"}]
            f.write(json.dumps({"id": f"u{i}", "turns": turns}, ensure_ascii=False) + "\n")
    lines = ["conversation_id,rater,item_id,value"] + [f"{h.conversation_id},{h.rater},{h.item_id},{h.value}" for h in humans]
    (root / "human.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    writer = ResultsWriter(root / "cards.jsonl")
    for card in cards:
        writer.write(card)
    writer.close()
    return root


def _calibrate(root: Path, *gate: str) -> subprocess.CompletedProcess[str]:
    return _cli("calibrate", "-r", "gate.yaml", "--human", "human.csv", "--conversations", "conversations.jsonl",
                "--results", "cards.jsonl", "--bootstrap", "20", "-o", "report", *gate, cwd=root)


def test_calibrate_min_kappa_exits_5_naming_the_items(calibration_files: Path) -> None:
    result = _calibrate(calibration_files, "--min-kappa", "0.9", "--min-kappa-item", "greeting=0.6",
                        "--min-kappa-item", "quality=0.6")
    assert result.returncode == 5, result.stderr
    assert "2 check(s) failed, exit code 5" in result.stderr or "2 项检查未通过" in result.stderr
    assert "overall: mean kappa" in result.stderr
    assert "greeting: kappa" in result.stderr and "< 0.600" in result.stderr
    assert "quality:" not in result.stderr
    assert (calibration_files / "report" / "report.json").exists()  # the report is written all the same


def test_calibrate_min_kappa_passes_with_exit_0(calibration_files: Path) -> None:
    result = _calibrate(calibration_files, "--min-kappa", "0.3", "--min-kappa-item", "quality=0.95")
    assert result.returncode == 0, result.stderr
    assert "quality ≥ 0.950" in result.stdout and "overall " in result.stdout


def test_calibrate_without_gates_exits_0(calibration_files: Path) -> None:
    assert _calibrate(calibration_files).returncode == 0


@pytest.mark.parametrize("value", ["greeting", "greeting=high", "=0.5", "greeting=2"])
def test_calibrate_refuses_a_malformed_item_gate(calibration_files: Path, value: str) -> None:
    result = _calibrate(calibration_files, "--min-kappa-item", value)
    assert result.returncode == 2  # bad usage, as the exit-code table says (issue 19.8; was 1)
    assert f"--min-kappa-item {value!r}" in result.stderr and "ID=" in result.stderr


def test_calibrate_refuses_a_kappa_minimum_out_of_range_as_bad_usage(calibration_files: Path) -> None:
    result = _calibrate(calibration_files, "--min-kappa", "1.5")
    assert result.returncode == 2 and "--min-kappa 1.5" in result.stderr


# ----------------------------------------------------------------------------- progress


def _conversations(n: int, *, failing: int | None = None) -> list[Conversation]:
    """``n`` short chats; the customer of conversation ``failing`` says 失败 (the script fails it)."""
    return [
        Conversation.model_validate({"id": f"p{i}", "turns": [
            {"speaker": "agent", "text": "您好"}, {"speaker": "customer", "text": "失败" if i == failing else "好"}]})
        for i in range(n)
    ]


def _script(request: JudgeRequest) -> ModelResult:
    """Top tier with token counts; every call about a conversation that says 失败 fails."""
    if any("失败" in m["content"] for m in request.messages):
        return ModelResult(error="boom", kind="transport", usage=Usage(calls=1))
    answer = request.response_model.model_validate(top_tier_answer(CARD.item(request.item_id)), context=request.context)
    return ModelResult(answer=answer, usage=Usage(calls=1, prompt_tokens=100, completion_tokens=20))


def test_a_progress_callback_gets_a_snapshot_after_each_conversation() -> None:
    seen: list[Progress] = []
    cards = Grader(CARD, model=FakeJudge(_script), concurrency=1).grade_many(
        _conversations(5, failing=2), progress=seen.append
    )
    assert [p.done for p in seen] == [1, 2, 3, 4, 5] and {p.total for p in seen} == {5}
    assert [p.failed for p in seen] == [0, 0, 1, 1, 1]
    assert seen[-1].usage == sum((c.usage for c in cards), Usage())
    assert seen[-1].usage.prompt_tokens == 4 * 2 * 100 and seen[-1].usage.calls == 5 * 2
    assert seen[-1].remaining == 0 and seen[-1].elapsed >= seen[0].elapsed >= 0


def test_progress_counts_what_resume_leaves_to_do(tmp_path: Path) -> None:
    batch = _conversations(4)
    grader = Grader(CARD, model=FakeJudge(_script))
    grader.grade_many(batch[:3], output=tmp_path / "cards.jsonl")
    seen: list[Progress] = []
    grader.grade_many(batch, output=tmp_path / "cards.jsonl", resume=True, progress=seen.append)
    assert [(p.done, p.total) for p in seen] == [(1, 1)]


def test_progress_false_is_the_default_and_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    Grader(CARD, model=FakeJudge.top_tier(CARD)).grade_many(_conversations(2))
    assert capsys.readouterr().err == ""
    with pytest.raises(TypeError, match="progress must be True, False or a callable"):
        Grader(CARD, model=FakeJudge.top_tier(CARD)).grade_many(_conversations(1), progress="yes")  # type: ignore[arg-type]


def test_progress_true_draws_a_tqdm_bar_with_the_counters(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    Grader(CARD, model=FakeJudge.top_tier(CARD)).grade_many(_conversations(3), progress=True)
    err = capsys.readouterr().err
    assert "grading" in err and "3/3" in err
    assert "failed=0" in err and "calls=6" in err and "cached=0" in err


def _without(monkeypatch: pytest.MonkeyPatch, *packages: str) -> None:
    """Make importing ``packages`` (and their submodules) fail, as when they are not installed."""
    for module in list(sys.modules):
        if module.split(".")[0] in packages:
            monkeypatch.delitem(sys.modules, module)
    for package in packages:
        monkeypatch.setitem(sys.modules, package, None)  # import → ModuleNotFoundError


def test_without_tqdm_the_bar_is_rich(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _without(monkeypatch, "tqdm")
    reporter = progress_module.progress_reporter(True, 2)
    assert reporter.__class__ is progress_module.ProgressReporter
    Grader(CARD, model=FakeJudge.top_tier(CARD)).grade_many(_conversations(2), progress=True)
    err = capsys.readouterr().err
    assert "2/2" in err and "calls=4" in err and "failed=0" in err


# ----------------------------------------------------------------------------- OpenTelemetry


def test_spans_per_conversation_and_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(progress_module, "_tracer", lambda: provider.get_tracer("llm_grader"))

    Grader(CARD, model=FakeJudge(_script, model="judge-x")).grade_many(_conversations(2))
    spans = exporter.get_finished_spans()
    calls = [s for s in spans if s.name == "chat judge-x"]
    grades = [s for s in spans if s.name == "llm_grader.grade"]
    assert len(calls) == 4 and len(grades) == 2
    first = calls[0].attributes
    assert first["gen_ai.operation.name"] == "chat" and first["gen_ai.request.model"] == "judge-x"
    assert first["gen_ai.usage.input_tokens"] == 100 and first["gen_ai.usage.output_tokens"] == 20
    assert first["llm_grader.item_id"] in {"quality", "greeting"}
    assert {s.attributes["llm_grader.conversation_id"] for s in grades} == {"p0", "p1"}
    assert all(g.attributes["gen_ai.usage.input_tokens"] == 200 for g in grades)
    # Each call span is a child of its conversation's span.
    parents = {g.context.span_id: g.attributes["llm_grader.conversation_id"] for g in grades}
    assert all(parents[c.parent.span_id] == c.attributes["llm_grader.conversation_id"] for c in calls)


def test_a_failed_call_span_has_an_error_status(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(progress_module, "_tracer", lambda: provider.get_tracer("llm_grader"))
    Grader(CARD, model=FakeJudge(_script)).grade_many(_conversations(1, failing=0))
    calls = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    assert calls and all(s.status.status_code is StatusCode.ERROR for s in calls)
    assert calls[0].attributes["error.type"] == "transport"


def test_without_opentelemetry_nothing_is_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    _without(monkeypatch, "opentelemetry")
    progress_module._trace_api.cache_clear()
    try:
        assert progress_module._trace_api() is None and progress_module._tracer() is None
        judge = FakeJudge.top_tier(CARD)
        request = JudgeRequest(messages=[], response_model=Any, schema={}, item_id="quality")  # type: ignore[arg-type]
        call = progress_module.traced_call(judge, request, "p0")
        assert call.func == judge.judge  # type: ignore[attr-defined]  # the plain call, no wrapper
        cards = Grader(CARD, model=judge).grade_many(_conversations(2))
        assert [c.complete for c in cards] == [True, True]
    finally:
        progress_module._trace_api.cache_clear()


def test_with_opentelemetry_api_alone_the_calls_are_wrapped() -> None:
    pytest.importorskip("opentelemetry.trace")
    progress_module._trace_api.cache_clear()
    assert progress_module._trace_api() is not None
    judge = FakeJudge.top_tier(CARD)
    request = JudgeRequest(messages=[], response_model=Any, schema={}, item_id="quality")  # type: ignore[arg-type]
    assert not hasattr(progress_module.traced_call(judge, request, "p0"), "func")
