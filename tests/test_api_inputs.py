"""The Python API takes what users pass, or says clearly what it expected.

Plain-string API keys, settings keywords next to a model name, dict records, DataFrames,
paths and generators at the entry points: ``Grader``, ``grade``, ``grade_many``,
``ReviewBatch.build`` and ``calibrate``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import SecretStr

from llm_grader import Conversation, Grader, LLMGraderError, ModelSettings, Rubric, read_results
from llm_grader._results import ResultsWriter
from llm_grader.calibration import HumanScore, calibrate
from llm_grader.errors import ConversationError
from llm_grader.review import ReviewBatch, ReviewError
from llm_grader.rubric import rubric_from_text
from llm_grader.scoring import score
from llm_grader.testing import FakeJudge, FakeOpenAIServer, top_tier_responder
from llm_grader.types import Judgement

RECORD: dict[str, Any] = {
    "id": "d1",
    "turns": [
        {"speaker": "客户", "text": "我的宽带断了", "start": 0},
        {"speaker": "客服", "text": "您好,很抱歉给您带来不便,我马上为您查询", "start": 5},
        {"speaker": "客户", "text": "好的,谢谢", "start": 20},
        {"speaker": "客服", "text": "已为您报修,请问还有什么可以帮您?再见", "start": 30},
    ],
}


def record(cid: str) -> dict[str, Any]:
    return {**RECORD, "id": cid}


def fake(rubric: Rubric) -> Grader:
    return Grader(rubric, model=FakeJudge.top_tier(rubric), cache=None)


# --------------------------------------------------------------------------- model settings


def test_model_settings_take_a_plain_string_key(flagship: Rubric) -> None:
    with FakeOpenAIServer(top_tier_responder(flagship)) as server:
        settings = ModelSettings(model="fake", base_url=server.base_url, api_key="sk-plain-123")
        assert isinstance(settings.api_key, SecretStr) and "sk-plain" not in repr(settings)
        card = Grader(flagship, model=settings, cache=None).grade(RECORD)
        headers = list(server.headers)
    assert card.errors == [] and card.complete
    assert headers and all(h.get("authorization", h.get("Authorization")) == "Bearer sk-plain-123" for h in headers)


def test_model_settings_key_of_another_type_is_refused() -> None:
    with pytest.raises(LLMGraderError, match="api_key must be a string or a pydantic SecretStr, not int"):
        ModelSettings(model="m", api_key=123)  # type: ignore[arg-type]
    assert ModelSettings(model="m").api_key.get_secret_value() == ""
    assert ModelSettings(model="m", api_key=SecretStr("k")).api_key.get_secret_value() == "k"


def test_grader_takes_settings_keywords_next_to_a_model_name(
    flagship: Rubric, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.invalid/v1")
    with FakeOpenAIServer(top_tier_responder(flagship)) as server:
        grader = Grader(flagship, model="fake", base_url=server.base_url, api_key="sk-kw", timeout=30, cache=None)
        assert grader.judge is not None and grader.judge.identity["endpoint"] == server.base_url.split("//")[1]
        card = grader.grade(RECORD)
        sent = len(server.requests)
    assert sent > 0 and card.complete and card.errors == []


def test_settings_keywords_without_a_model_name_are_refused(flagship: Rubric) -> None:
    settings = ModelSettings(model="m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(LLMGraderError, match=r"base_url= configure a model given by name.*dataclasses.replace"):
        Grader(flagship, model=settings, base_url="http://127.0.0.1:8/v1")
    with pytest.raises(LLMGraderError, match="api_key=, base_url= configure a model given by name"):
        Grader(flagship, model=FakeJudge.top_tier(flagship), base_url="http://127.0.0.1:8/v1", api_key="k")
    with pytest.raises(TypeError, match="unknown Grader options: bogus"):
        Grader(flagship, model="m", bogus=1)


def test_a_model_of_the_wrong_type_is_refused(flagship: Rubric) -> None:
    with pytest.raises(LLMGraderError, match=r"model must be a model name, a ModelSettings or a Judge.*not int"):
        Grader(flagship, model=42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- grade


def test_grade_takes_a_dict_record(flagship: Rubric) -> None:
    grader = fake(flagship)
    card = grader.grade(RECORD)
    assert card.conversation_id == "d1" and card.complete
    conversation = Conversation.model_validate(
        {**RECORD, "turns": [{**t, "speaker": {"客户": "customer", "客服": "agent"}[t["speaker"]]} for t in RECORD["turns"]]}
    )
    assert card.total_score == grader.grade(conversation).total_score


def test_grade_refuses_what_is_not_one_conversation(flagship: Rubric, tmp_path: Path) -> None:
    grader = fake(flagship)
    with pytest.raises(LLMGraderError, match=r"grade: expected a Conversation or a dict.*not str; for a file use grade_many"):
        grader.grade(str(tmp_path / "c.jsonl"))  # type: ignore[arg-type]
    with pytest.raises(ConversationError, match=r"<dict>: turns: is required"):
        grader.grade({"id": "x"})


# --------------------------------------------------------------------------- grade_many


def test_grade_many_takes_a_dataframe(flagship: Rubric) -> None:
    rows = [{"conversation_id": cid, "speaker": t["speaker"], "text": t["text"], "start": t["start"]}
            for cid in ("a", "b") for t in RECORD["turns"]]
    cards = fake(flagship).grade_many(pd.DataFrame(rows))
    assert [c.conversation_id for c in cards] == ["a", "b"] and all(c.complete for c in cards)


def test_grade_many_names_the_bad_row_of_a_dataframe(flagship: Rubric) -> None:
    rows = [{"conversation_id": "a", "speaker": "路人", "text": "?"}]
    with pytest.raises(ConversationError, match=r"<DataFrame>:row 0: turns\[0\].speaker: unknown speaker"):
        fake(flagship).grade_many(pd.DataFrame(rows))


def test_grade_many_takes_dicts_a_generator_and_a_path(flagship: Rubric, tmp_path: Path) -> None:
    grader = fake(flagship)
    assert [c.conversation_id for c in grader.grade_many([record("a"), record("b")])] == ["a", "b"]
    generated = (record(cid) for cid in ("g1", "g2", "g3"))
    assert [c.conversation_id for c in grader.grade_many(generated)] == ["g1", "g2", "g3"]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(record(cid), ensure_ascii=False) + "\n" for cid in ("p1", "p2")), "utf-8")
    assert [c.conversation_id for c in grader.grade_many(path)] == ["p1", "p2"]
    assert [c.conversation_id for c in grader.grade_many(str(path))] == ["p1", "p2"]


def test_grade_many_refuses_what_is_not_conversations(flagship: Rubric) -> None:
    grader = fake(flagship)
    with pytest.raises(LLMGraderError, match=r"grade_many: expected conversations .* not int"):
        grader.grade_many(42)
    with pytest.raises(LLMGraderError, match="grade_many: expected many conversations, not one dict"):
        grader.grade_many(RECORD)
    with pytest.raises(ConversationError, match=r"conversations\[1\]: turns: is required"):
        grader.grade_many([record("a"), {"id": "b"}])
    with pytest.raises(LLMGraderError, match=r"conversations\[0\]: expected a Conversation or a dict.*not int"):
        grader.grade_many([1])


# --------------------------------------------------------------------------- review batches


def test_review_batch_builds_from_read_results(flagship: Rubric, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    fake(flagship).grade_many([record("a"), record("b")], output=path)
    conversations = [Conversation.model_validate(
        {"id": cid, "turns": [{"speaker": "agent", "text": "您好"}]}) for cid in ("a", "b")]
    batch = ReviewBatch.build(flagship, read_results(path), conversations)
    assert [c.conversation_id for c in batch.cards] == ["a", "b"] and set(batch.conversations) == {"a", "b"}
    assert [c.conversation_id for c in ReviewBatch.build("internet_cs_qa", path).cards] == ["a", "b"]
    with pytest.raises(ReviewError, match=r"cards must be an iterable of Scorecard .* not int"):
        ReviewBatch.build(flagship, 3)  # type: ignore[arg-type]
    with pytest.raises(ReviewError, match=r"cards\[0\] is a dict, not a Scorecard"):
        ReviewBatch.build(flagship, [RECORD])  # type: ignore[list-item]
    with pytest.raises(ReviewError, match="conversations must be a mapping of id to Conversation"):
        ReviewBatch.build(flagship, path, ["a"])  # type: ignore[list-item]


# --------------------------------------------------------------------------- calibration

SIM = rubric_from_text("""\
id: sim
name: 模拟评分表
version: "1"
max_score: 10
categories:
  - id: c
    name: 类
    items:
      - id: quality
        name: 质量
        points: 10
        tiers: [{id: good, label: 好, points: 10}, {id: fair, label: 一般, points: 6}, {id: poor, label: 差, points: 0}]
""")


def test_calibrate_takes_read_results_and_a_human_scores_path(tmp_path: Path) -> None:
    tiers = {"u1": "good", "u2": "fair", "u3": "poor", "u4": "good"}
    results = tmp_path / "r.jsonl"
    writer = ResultsWriter(results)
    for cid, tier in tiers.items():
        writer.write(score(SIM, [Judgement(item_id="quality", tier=tier)], conversation_id=cid))
    writer.close()
    human = tmp_path / "human.csv"
    human.write_text("conversation_id,rater,item_id,value\n" + "".join(
        f"{cid},r1,quality,{tier}\n" for cid, tier in tiers.items()), encoding="utf-8")
    report = calibrate(SIM, read_results(results), str(human), n_boot=20)
    assert report.conversations == 4 and report.items[0].model_human.exact == 1.0
    scores = (HumanScore(conversation_id=c, rater="r1", item_id="quality", value=t) for c, t in tiers.items())
    again = calibrate(SIM, results, scores, n_boot=20)  # a results path; human scores from a generator
    assert again.conversations == 4 and again.raters == ["r1"]
    frame = pd.DataFrame([{"conversation_id": c, "rater": "r1", "item_id": "quality", "value": t} for c, t in tiers.items()])
    assert calibrate(SIM, list(read_results(results)), frame, n_boot=20).conversations == 4


def test_calibrate_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    cards = [score(SIM, [Judgement(item_id="quality", tier="good")], conversation_id="u1")]
    with pytest.raises(LLMGraderError, match=r"calibrate: human_scores must be HumanScore objects.*"):
        calibrate(SIM, cards, 7)
    with pytest.raises(LLMGraderError, match=r"calibrate: scorecards\[0\] is a dict, not a Scorecard"):
        calibrate(SIM, [{"conversation_id": "u1"}], [])  # type: ignore[list-item]
    with pytest.raises(LLMGraderError, match=r"human scores file .* does not exist"):
        calibrate(SIM, cards, tmp_path / "missing.csv")
