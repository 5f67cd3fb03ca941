"""The first run says something (issue 19.5): the quick start's summary, its table, running it twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_grader import Grader
from llm_grader._results import ResultsWriter
from llm_grader.cli._console import BatchSummary, summary_table
from llm_grader.conversation import Conversations
from llm_grader.rubric import load_rubric
from llm_grader.scoring import Scorecard

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "conversations.jsonl"


def quick_start(cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``llm-grader grade examples/conversations.jsonl -r internet_cs_qa --rules-only``, no -o."""
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "llm_grader", "grade", str(EXAMPLES), "-r", "internet_cs_qa", "--rules-only", *extra],
        capture_output=True, text=True, encoding="utf-8", cwd=cwd, timeout=180, env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def rules_only_cards(examples: Conversations) -> dict[str, Scorecard]:
    cards = Grader(load_rubric("rules_only_qa")).grade_many(examples)
    return {c.conversation_id: c for c in cards}


def test_the_quick_start_runs_twice_says_what_rules_decided_and_leaves_no_lock(tmp_path: Path) -> None:
    first = quick_start(tmp_path)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scorecards.jsonl"]  # no stray scorecards.jsonl.lock
    lines = first.stdout.splitlines()
    summary = lines[lines.index(next(line for line in lines if line.startswith("小结"))) :]
    assert summary[0] == "小结:规则判定了 6% 的分值(14 张评分卡可计的 1310 分中的 80 分)。"
    assert summary[1].startswith("9 个评分项需要模型评判,本次未评(115 项次):politeness, record_accuracy")
    assert "--rules-only" in summary[1]
    assert summary[2] == "致命差错尚未判定(14 张评分卡):要等 politeness, answer_rigor 评完才能判定,在此之前总分只是一个区间。"
    assert summary[3].startswith("0分尚未判定(14 张评分卡):要等 proactiveness")
    assert summary[-1].endswith(f"llm-grader grade {EXAMPLES} -r rules_only_qa")
    assert "replaced" not in first.stderr and "已替换" not in first.stderr
    second = quick_start(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "已替换上次运行留下的 scorecards.jsonl" in second.stderr
    assert len((tmp_path / "scorecards.jsonl").read_text(encoding="utf-8").splitlines()) == 14  # replaced, not added
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scorecards.jsonl"]
    # An explicit -o is never replaced silently.
    third = quick_start(tmp_path, "-o", "scorecards.jsonl")
    assert third.returncode == 1 and "already holds scorecards" in third.stderr


def test_the_table_is_sorted_by_id_and_its_notes_say_where_points_were_lost(
    rules_only_cards: dict[str, Scorecard],
) -> None:
    from rich.console import Console

    cards = list(reversed(rules_only_cards.values()))
    summary = BatchSummary(max_rows=3)
    for card in cards:
        summary.add(card)
    assert [c.conversation_id for c in summary.rows] == ["c001", "c002", "c003"]
    console = Console(width=400, record=True)
    console.print(summary_table(cards, "zh"))
    shown = console.export_text()
    rows = [line.split("│")[1].strip() for line in shown.splitlines() if line.startswith("│ c")]
    assert rows == sorted(rows) and len(rows) == len(cards)
    c003 = shown.split("│ c003")[1].split("│ c004")[0]
    assert "greeting: 缺失 0 / 15" in c003 and "taboo_words: 多处 0 / 10" in c003
    assert "first_response_time" not in c003  # full points: not a note
    assert "N/A 不计分:reply_gap;总分按 85 分折算为 100 分" in c003
    c001 = shown.split("│ c001")[1].split("│ c002")[0]
    assert "已评项未失分" in c001 and "N/A 不计分:interruptions, speaking_rate;总分按 70 分折算为 100 分" in c001


def test_rules_only_qa_is_decided_fully_by_rules(rules_only_cards: dict[str, Scorecard]) -> None:
    rubric = load_rubric("rules_only_qa")
    assert rubric.name == "规则质检" and all(item.judge == "rule" for _, item in rubric.items())
    cards = rules_only_cards.values()
    assert all(c.complete and c.total_score is not None for c in cards)
    assert len({c.total_score for c in cards}) >= 5  # real numbers, not one total for every conversation
    assert rules_only_cards["c001"].total_score == 100
    assert rules_only_cards["c003"].total_score == pytest.approx(45 / 85 * 100, abs=0.01)


def test_a_rubric_without_model_items_grades_without_rules_only(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "llm_grader", "grade", str(EXAMPLES), "-r", "rules_only_qa", "-o", "out.jsonl"],
        capture_output=True, text=True, encoding="utf-8", cwd=tmp_path, timeout=180, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "小结:规则判定了 100% 的分值" in done.stdout and "全部评分项均已判定,总分即最终得分。" in done.stdout
    assert "rules_only_qa" not in done.stdout.split("小结")[1].split("\n", 3)[-1]  # no hint to itself


def test_the_results_lock_is_removed_on_release_and_still_excludes(tmp_path: Path) -> None:
    from llm_grader.errors import OutputLockedError

    out = tmp_path / "cards.jsonl"
    writer = ResultsWriter(out)
    assert (tmp_path / "cards.jsonl.lock").exists()
    with pytest.raises(OutputLockedError):
        ResultsWriter(out, resume=True)
    assert (tmp_path / "cards.jsonl.lock").exists()  # the refused run leaves the holder's lock in place
    writer.close()
    assert not (tmp_path / "cards.jsonl.lock").exists()
    # A handle on a lock file removed by the run that held it is not a lock: the next run locks the new file.
    stale = (tmp_path / "cards.jsonl.lock").open("ab")
    os.unlink(stale.name)
    again = ResultsWriter(out, resume=True)
    try:
        with pytest.raises(OutputLockedError):
            ResultsWriter(out, resume=True)
    finally:
        again.close()
        stale.close()


def test_the_tutorial_pastes_the_summary_the_command_prints(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from llm_grader.cli import app

    tutorial = ROOT / "docs" / "tutorial"
    result = CliRunner().invoke(app, ["grade", str(tutorial / "my_chats.csv"), "-r", str(tutorial / "my_card.yaml"),
                                      "--rules-only", "-o", str(tmp_path / "out.jsonl")])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = [line for line in result.output.splitlines() if line.startswith(("小结", "3 个评分项", "致命差错"))]
    page = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    assert len(summary) == 3 and all(line in page for line in summary)
