"""Grading on Ray Data: a local Ray instance, two actors, the scripted model server."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from llm_grader import Grader, load_conversations, load_rubric
from llm_grader.errors import LLMGraderError
from llm_grader.llm import ModelSettings
from llm_grader.ray import COLUMNS, scorecard_rows
from llm_grader.scoring import Scorecard
from llm_grader.testing import FakeOpenAIServer, top_tier_responder

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = load_rubric("internet_cs_qa")
# Ray's own deprecation notices (raised inside Ray, about Ray's settings) are not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")

BAD = {"id": "bad-1", "channel": "chat", "turns": [{"speaker": "robot", "text": "beep"}]}


def records(n: int) -> list[dict[str, Any]]:
    """n conversations: the examples cycled, each with an id of its own."""
    lines = (ROOT / "examples" / "conversations.jsonl").read_text("utf-8").splitlines()
    examples = [json.loads(line) for line in lines if line.strip()]
    return [{**r, "id": f"r{i:03d}-{r['id']}"} for i, r in zip(range(n), itertools.cycle(examples))]


def comparable(card: Scorecard) -> dict[str, Any]:
    return card.model_dump(mode="json")


def test_importing_llm_grader_does_not_import_ray() -> None:
    code = "import sys, llm_grader, llm_grader._grader, llm_grader.cli; print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_without_ray_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_grader.ray import grade_dataset

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    with pytest.raises(LLMGraderError, match=r'pip install "llm-grader\[ray\]"'):
        grade_dataset(object(), RUBRIC)  # type: ignore[arg-type]


def test_a_row_that_is_not_a_conversation_is_a_failed_row_and_done_rows_are_left_out() -> None:
    rows = [*records(3), BAD, {"channel": "chat", "turns": []}]
    result = scorecard_rows(Grader(RUBRIC), rows, done=frozenset({rows[1]["id"]}))
    assert [r["conversation_id"] for r in result] == [rows[0]["id"], rows[2]["id"], "bad-1", None]
    assert all(set(r) == set(COLUMNS) for r in result)
    assert [r["failed"] for r in result] == [False, False, True, True]
    assert "<Dataset>: turns[0].speaker: unknown speaker 'robot'" in result[2]["error"]
    assert result[2]["scorecard_json"] is None and result[2]["total_score"] is None
    card = Scorecard.model_validate_json(result[0]["scorecard_json"])
    assert (card.conversation_id, card.complete) == (rows[0]["id"], False)  # rules only: partial
    assert (result[0]["total_score"], result[0]["max_score"]) == (card.total_score, card.max_score)
    assert result[0]["complete"] is False


# --------------------------------------------------------------------------- on a local Ray


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'llm-grader[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    try:
        yield ray
    finally:
        ray.shutdown()


def test_grade_dataset_matches_grade_many_and_resumes(ray_local: Any, tmp_path: Path) -> None:
    from llm_grader.ray import grade_dataset

    data = records(40)
    source = tmp_path / "conversations.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [*data, BAD]), "utf-8")
    output = tmp_path / "scorecards"
    with FakeOpenAIServer(top_tier_responder(RUBRIC)) as server:
        settings = ModelSettings(model="fake", base_url=server.base_url, api_key=SecretStr("sk-test"))
        expected = Grader(RUBRIC, settings, cache=False).grade_many(load_conversations(source))
        plain_calls = len(server.requests)

        def run() -> list[dict[str, Any]]:
            ds = ray_local.data.read_text(str(source))
            graded = grade_dataset(
                ds,
                RUBRIC,
                settings,
                output=output,
                concurrency=2,
                batch_size=8,
                num_cpus=0.5,
                cache=False,
                requests_per_minute=60_000,
            )
            return sorted(graded.take_all(), key=lambda r: r["conversation_id"])

        first = run()
        files = sorted(p.name for p in output.iterdir())
        ray_calls = len(server.requests) - plain_calls
        second = run()
    assert len(expected) == 40 and ray_calls == plain_calls  # every model call once, none repeated
    cards = [Scorecard.model_validate_json(r["scorecard_json"]) for r in first if r["scorecard_json"]]
    assert [comparable(c) for c in cards] == [
        comparable(c) for c in sorted(expected, key=lambda c: c.conversation_id)
    ]
    assert all(c.complete and c.usage.calls > 0 for c in cards)
    (bad,) = [r for r in first if r["failed"]]
    assert bad["conversation_id"] == "bad-1" and "unknown speaker 'robot'" in bad["error"]
    assert {r["conversation_id"]: r["total_score"] for r in first if r["scorecard_json"]} == {
        c.conversation_id: c.total_score for c in expected
    }
    # Resumed: every id is in the output already; nothing new is written or asked.
    assert sorted(p.name for p in output.iterdir()) == files
    assert len(server.requests) == plain_calls + ray_calls
    assert second == first


def test_grade_dataset_refuses_a_full_output_without_resume(ray_local: Any, tmp_path: Path) -> None:
    from llm_grader.ray import grade_dataset

    output = tmp_path / "out"
    output.mkdir()
    (output / "part.json").write_text("{}\n")
    ds = ray_local.data.from_items(records(1))
    with pytest.raises(LLMGraderError, match="already holds files: pass resume=True"):
        grade_dataset(ds, RUBRIC, output=output, resume=False)
