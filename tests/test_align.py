"""The alignment loop, offline: the shipped calibration set, a simulated grader behind
the fake OpenAI-compatible server (real openai SDK + instructor), examples in the prompt or not."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from llm_grader import Grader, ModelSettings, load_conversations, load_rubric
from llm_grader.alignment import (
    AlignmentReport,
    adjudicated_tiers,
    align,
    candidate_text,
    next_version,
    read_history,
    split_conversations,
)
from llm_grader.calibration import HumanScore, load_human_scores
from llm_grader.rubric import Example, check_rubric, resolve_rubric, rubric_from_text
from llm_grader.testing import FakeOpenAIServer, items_of, simulated_responder
from llm_grader.types import ReviewVerdict

from .conftest import ROOT

CAL = ROOT / "eval" / "calibration"
RUBRIC = load_rubric("internet_cs_qa")
NEXT = next_version(RUBRIC.version)  # the candidate's version
BATCH = list(load_conversations(CAL / "conversations.jsonl"))
HUMANS = load_human_scores(CAL / "human_scores.csv")
TRUTH = {
    (r["conversation_id"], r["item_id"]): r
    for r in map(json.loads, (CAL / "truth.jsonl").read_text(encoding="utf-8").splitlines())
}
BOOT = 300



def _responder(with_examples: float | None, *, rates: float = 0.4) -> Any:
    """A grader wrong on ``rates`` of its answers; ``with_examples``: its rate when shown examples."""
    return simulated_responder(Grader(RUBRIC), BATCH, TRUTH, error_rates=rates, seed=1, with_examples=with_examples)


class _Run:
    def __init__(self, server: FakeOpenAIServer, out: Path) -> None:
        self.server, self.out = server, out
        self.settings = ModelSettings(model="sim", base_url=server.base_url, api_key=SecretStr("sk-align"))

    def __call__(self, **options: Any) -> AlignmentReport:
        return align("internet_cs_qa", CAL / "human_scores.csv", CAL / "conversations.jsonl", self.out,
                     model=self.settings, cache=self.out / "cache.sqlite", n_boot=BOOT, **options)


@pytest.fixture(scope="module")
def helped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_Run, AlignmentReport, int]]:
    """One run with a grader that examples help (40 % errors without, none with)."""
    with FakeOpenAIServer(_responder(0.0)) as server:
        run = _Run(server, tmp_path_factory.mktemp("align"))
        report = run()
        yield run, report, len(server.requests)


# ----------------------------------------------------------------------------- split and adjudication


def test_split_is_seeded_stratified_and_covers_every_scored_conversation() -> None:
    split = split_conversations(RUBRIC, HUMANS, seed=3)
    assert sorted(split.development + split.held_out) == sorted({h.conversation_id for h in HUMANS})
    assert not set(split.development) & set(split.held_out)
    for stratum in set(split.strata.values()):
        members = [c for c, s in split.strata.items() if s == stratum]
        dev = [c for c in members if c in split.development]
        assert abs(len(dev) - len(members) / 2) <= 1, stratum  # half of each stratum, rounded
    assert len(set(split.strata.values())) >= 2  # the set has good and poor conversations
    assert split_conversations(RUBRIC, HUMANS, seed=3) == split
    assert split_conversations(RUBRIC, HUMANS, seed=4).development != split.development


def test_adjudicated_tiers_are_unanimous_raters_or_a_reviewers_verdict() -> None:
    scores = [HumanScore(conversation_id=c, rater=r, item_id="focus", value=v)
              for c, r, v in [("k001", "a", "good"), ("k001", "b", "好"), ("k002", "a", "good"), ("k002", "b", "poor")]]
    settled = adjudicated_tiers(RUBRIC, scores)["focus"]
    assert settled["k001"].tier == "good" and settled["k001"].raters == 2
    assert "k002" not in settled  # the raters disagree: not adjudicated
    verdict = ReviewVerdict(reviewer="qa", decision="override", tier="fair", original_tier="good", reason="答非所问一次")
    settled = adjudicated_tiers(RUBRIC, scores, {("k002", "focus"): verdict})["focus"]
    assert settled["k002"].tier == "fair" and settled["k002"].source == "review"
    accepted = ReviewVerdict(reviewer="qa", decision="accept", original_tier="poor")
    assert adjudicated_tiers(RUBRIC, scores, {("k001", "focus"): accepted})["focus"]["k001"].tier == "poor"


# ----------------------------------------------------------------------------- the candidate's text


def test_next_version() -> None:
    assert [next_version(v) for v in ("1.2", "1.9", "2", "v3-beta", "draft")] == [
        "1.3", "1.10", "3", "v4-beta", "draft-align1"]


def test_candidate_text_adds_examples_under_items_and_appends_to_existing_ones() -> None:
    source = resolve_rubric("internet_cs_qa").read_text(encoding="utf-8")
    new = Example(text="客户: 订单号我说过了\n客服: 请再提供一次订单号", tier="poor", why="两位质检员一致", quotes=["请再提供一次订单号"])
    once = candidate_text(source, RUBRIC, {"focus": [new]}, "1.3")
    loaded, problems = check_rubric("x.yaml", text=once)
    assert loaded is not None and not [p for p in problems if p.severity == "error"]
    assert loaded.version == "1.3" and loaded.item("focus").examples == [new]
    assert source.split("\n")[0] == once.split("\n")[0] and "# " in once  # comments kept: text edited, not dumped
    second = Example(text="客服: 好的,马上为您处理", tier="good")
    twice = candidate_text(once, rubric_from_text(once), {"focus": [second]}, "1.4")
    assert rubric_from_text(twice).item("focus").examples == [new, second]


# ----------------------------------------------------------------------------- the loop end to end


def test_examples_that_help_are_measured_better_on_the_held_out_part(helped: tuple[_Run, AlignmentReport, int]) -> None:
    run, report, _ = helped
    assert report.verdict == "better" and report.overall is not None and report.overall.interval.low > 0
    assert "优于" in report.sentence and "整体高于 0" in report.sentence
    assert sum(report.examples_added.values()) > 0 and report.candidate_version == NEXT
    for c in report.items:  # "better" exactly when the whole interval is above 0
        assert (c.verdict == "better") == (c.interval.low > 0), c
    candidate = Path(report.candidate_file or "")
    assert candidate == run.out / f"internet_cs_qa-v{NEXT}.yaml"
    loaded, problems = check_rubric(candidate)
    assert loaded is not None and not [p for p in problems if p.severity == "error"]
    diff = Path(report.diff_file or "").read_text(encoding="utf-8")
    assert diff.startswith(f"--- internet_cs_qa.yaml\n+++ internet_cs_qa-v{NEXT}.yaml") and f'+version: "{NEXT}"' in diff
    assert "+        examples:" in diff and not [line for line in diff.splitlines() if line.startswith("-") and "version" not in line and not line.startswith("---")]


def test_examples_come_from_development_disagreements_with_verified_quotes(helped: tuple[_Run, AlignmentReport, int]) -> None:
    run, report, _ = helped
    split = json.loads((run.out / "split.json").read_text(encoding="utf-8"))
    grader = Grader(RUBRIC)
    by_id = {c.id: c for c in BATCH}
    settled = adjudicated_tiers(RUBRIC, HUMANS)
    for proposal in report.proposals:
        assert len(proposal.examples) <= 2
        for proposed in proposal.examples:
            assert proposed.conversation_id in split["development"]
            assert proposed.example.tier == settled[proposal.item_id][proposed.conversation_id].tier
            assert proposed.example.tier != proposed.model_tier  # a disagreement
            shown = grader.shown(by_id[proposed.conversation_id])
            turns = "\n".join(t.text for t in shown.turns)
            for quote in proposed.example.quotes:
                assert quote in turns and quote in proposed.example.text
    assert any(p.suggestions for p in report.proposals)
    suggestion = next(s for p in report.proposals for s in p.suggestions)
    assert "人工判为" in suggestion.text and suggestion.human_tier in suggestion.descriptions


def test_the_candidates_examples_are_in_the_prompt(helped: tuple[_Run, AlignmentReport, int]) -> None:
    _, report, _ = helped
    candidate = load_rubric(report.candidate_file or "")
    item_id = next(iter(report.examples_added))
    prompt = Grader(candidate).messages(candidate.item(item_id), BATCH[0])[-1]["content"]
    before = Grader(RUBRIC).messages(RUBRIC.item(item_id), BATCH[0])[-1]["content"]
    assert "示例(说明评分尺度" in prompt and "示例(说明评分尺度" not in before
    for example in candidate.item(item_id).examples:
        assert example.text.split("\n")[0] in prompt


def test_a_rerun_reuses_the_split_answers_from_the_cache_and_grows_the_history(
    helped: tuple[_Run, AlignmentReport, int],
) -> None:
    run, report, calls = helped
    again = run()  # the same endpoint and cache (the cache key names the endpoint)
    assert len(run.server.requests) == calls  # every prompt is the first run's: all cached
    assert again.model_dump(exclude={"at", "usage"}) == report.model_dump(exclude={"at", "usage"})
    assert again.usage.cached_calls == report.usage.calls == calls
    history = read_history(run.out)
    assert len(history.experiments) == 2
    first = history.experiments[0]
    assert first.model == "sim" and first.development + first.held_out == 48
    assert first.overall == report.overall and first.items == report.items
    assert first.usage.calls == calls and first.candidate_version == NEXT


def test_unchanged_items_of_the_candidate_come_from_the_cache(tmp_path: Path) -> None:
    with FakeOpenAIServer(_responder(0.0)) as server:
        run = _Run(server, tmp_path)
        first = len(server.requests)
        report = run(items=["focus"])
        asked = [items_of(r)[-1] for r in server.requests[first:]]
    assert set(report.examples_added) == {"focus"}
    old_calls = 48 * 8 + 24
    assert asked[old_calls:] and set(asked[old_calls:]) == {"focus"}  # the candidate asks only what changed
    assert len(asked) == old_calls + report.held_out
    assert [c.item_id for c in report.items if c.difference != 0] in ([], ["focus"])


def test_examples_that_only_shake_the_answers_are_never_called_better(tmp_path: Path) -> None:
    with FakeOpenAIServer(_responder(0.4)) as server:  # examples redraw the answers at the same error rate
        report = _Run(server, tmp_path)()
    assert report.overall is not None
    for c in [*report.items, report.overall]:
        assert (c.verdict == "better") == (c.interval.low > 0), c
    assert report.verdict != "better"
    moved_up = [c for c in report.items if c.difference > 0 and c.interval.low <= 0]
    assert moved_up and all(c.verdict == "not distinguishable" for c in moved_up)  # a gain inside the noise


def test_examples_the_model_ignores_are_not_distinguishable(tmp_path: Path) -> None:
    with FakeOpenAIServer(_responder(None)) as server:
        report = _Run(server, tmp_path)()
    assert report.verdict == "not distinguishable"
    assert all(c.difference == 0 and c.verdict == "not distinguishable" for c in report.items)
    assert "无法区分" in report.sentence and "不能说候选版本更好" in report.sentence


def test_reviewer_verdicts_count_as_adjudication(tmp_path: Path) -> None:
    with FakeOpenAIServer(_responder(0.0)) as server:
        run = _Run(server, tmp_path)
        split = split_conversations(RUBRIC, HUMANS)
        cid = split.development[0]
        verdict = ReviewVerdict(reviewer="qa", decision="override", tier="poor", original_tier="good", reason="复核:答非所问")
        report = run(verdicts={(cid, "focus"): verdict}, max_examples=40, items=["focus"])
    proposal = next(p for p in report.proposals if p.item_id == "focus")
    reviewed = [e for e in proposal.examples if e.conversation_id == cid]
    assert reviewed and reviewed[0].source == "review" and reviewed[0].example.tier == "poor"
    assert "复核:答非所问" in reviewed[0].example.why


# ----------------------------------------------------------------------------- the command line


def _cli(*args: str | Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "llm_grader", *map(str, args)], capture_output=True, text=True, encoding="utf-8",
        cwd=cwd, timeout=300,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(ROOT), **env},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_align_command_end_to_end_and_history(tmp_path: Path) -> None:
    with FakeOpenAIServer(_responder(0.0)) as server:
        env = {"OPENAI_API_KEY": "sk-align", "LLM_GRADER_MODEL": "sim", "OPENAI_BASE_URL": server.base_url,
               "LLM_GRADER_CACHE_DIR": str(tmp_path / "cache")}
        result = _cli("align", "-r", "internet_cs_qa", "--human", CAL / "human_scores.csv", "--conversations",
                      CAL / "conversations.jsonl", "-o", tmp_path / "out", "--bootstrap", "200", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert "划分:开发集 24 段,留出集 24 段" in result.stdout
    assert "留出集对比" in result.stdout and "更好" in result.stdout and "优于" in result.stdout
    assert "建议(仅供参考,未写入评分表)" in result.stdout
    assert (tmp_path / "out" / f"internet_cs_qa-v{NEXT}.yaml").is_file() and (tmp_path / "out" / f"internet_cs_qa-v{NEXT}.diff").is_file()
    shown = _cli("align", "--history", tmp_path / "out", env={}, cwd=tmp_path)
    assert shown.returncode == 0 and f"{RUBRIC.version} → {NEXT}" in shown.stdout and "better" in shown.stdout
    missing = _cli("align", "-r", "internet_cs_qa", env={}, cwd=tmp_path)
    assert missing.returncode == 1 and "--history DIR" in missing.stderr
    empty = _cli("align", "--history", tmp_path, env={}, cwd=tmp_path)
    assert empty.returncode == 0 and "还没有对齐实验记录" in empty.stdout
