"""Tables in and out: conversations and human scores from DataFrames, Datasets and dicts;
scorecards as records, DataFrames, Datasets, CSV and Parquet (``llm-grader export``)."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llm_grader import Grader, load_conversations, load_rubric
from llm_grader._export import (
    export_results,
    results_columns,
    results_to_dataset,
    results_to_frame,
    results_to_records,
)
from llm_grader._messages import text
from llm_grader._results import ResultsWriter
from llm_grader.calibration import calibrate, load_human_scores
from llm_grader.conversation import Conversations, RowProblem, conversations_from_table, table_records
from llm_grader.errors import ConversationError, InputError, LLMGraderError
from llm_grader.scoring import OverrideHit, Scorecard
from llm_grader.testing import FakeJudge
from llm_grader.types import ReviewVerdict

from .conftest import EXAMPLES

pd = pytest.importorskip("pandas")

JSONL = EXAMPLES / "conversations.jsonl"
CSV = EXAMPLES / "chats.csv"


def dumps(conversations: Conversations) -> list[dict[str, Any]]:
    return [c.model_dump() for c in conversations]


def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in JSONL.read_text(encoding="utf-8").splitlines() if line.strip()]


def per_turn_rows() -> list[dict[str, Any]]:
    """The JSONL examples as one dict per turn, conversation fields repeated, metadata.* columns."""
    return [
        {
            "conversation_id": r["id"],
            "channel": r["channel"],
            **({"notes": r["notes"]} if "notes" in r else {}),
            **({"knowledge": r["knowledge"]} if "knowledge" in r else {}),
            **{f"metadata.{k}": v for k, v in r["metadata"].items()},
            **turn,
        }
        for r in records()
        for turn in r["turns"]
    ]


def messages(result: Conversations) -> list[str]:
    return [str(p) for error in result.errors for p in error.problems]


# --------------------------------------------------------------------------- conversations in


def test_per_turn_dataframe_matches_the_csv_file() -> None:
    frame = pd.read_csv(CSV)
    loaded = conversations_from_table(frame)
    assert not loaded.errors
    assert dumps(loaded) == dumps(load_conversations(CSV))
    assert [c.id for c in loaded] == ["c016", "c017"]
    assert loaded[0].turns[1].speaker == "agent"  # 客服 in the file


def test_per_turn_dataframe_of_every_example_matches_the_jsonl_file() -> None:
    # Mixed start types (ISO text, seconds) in one object column; notes and metadata.language
    # are NaN on the rows of conversations that lack them; end is NaN on chat turns.
    frame = pd.DataFrame(per_turn_rows())
    assert frame["notes"].isna().any() and frame["metadata.language"].isna().any()
    loaded = conversations_from_table(frame)
    assert not loaded.errors
    assert dumps(loaded) == dumps(load_conversations(JSONL))


def test_per_turn_dataframe_with_typed_columns() -> None:
    frame = pd.DataFrame(
        {
            "conversation_id": [7, 7, 8],
            "speaker": ["客户", "客服", "user"],
            "text": ["在吗", "您好", "hi"],
            "start": pd.to_datetime(["2024-05-01T10:00:03+08:00", "2024-05-01T10:00:11+08:00", None]),
            "channel": ["chat", None, "chat"],
            "metadata.agent_id": ["A1", "A1", None],
            "turn_no": [1, 2, 1],  # an unknown column is kept as metadata, per turn when it changes
        }
    )
    loaded = conversations_from_table(frame)
    assert not loaded.errors
    first, second = loaded
    assert (first.id, first.channel, first.metadata) == ("7", "chat", {"agent_id": "A1", "turn_no": [1, 2]})
    assert [(t.speaker, t.start) for t in first.turns] == [("customer", 0.0), ("agent", 8.0)]
    assert first.started_at is not None and first.started_at.isoformat() == "2024-05-01T10:00:03+08:00"
    assert (second.id, second.metadata, second.turns[0].start) == ("8", {"turn_no": 1}, None)
    assert list(frame.columns)[-1] == "turn_no" and frame.shape == (3, 7)  # not modified


def test_per_conversation_dataframe_matches_the_jsonl_file() -> None:
    frame = pd.DataFrame(records())
    assert frame["notes"].isna().any()
    loaded = conversations_from_table(frame)
    assert not loaded.errors
    assert dumps(loaded) == dumps(load_conversations(JSONL))


def test_per_conversation_dataframe_with_metadata_columns() -> None:
    frame = pd.DataFrame(
        [
            {"conversation_id": 1, "turns": [{"speaker": "坐席", "text": "您好", "start": "00:01"}],
             "metadata": {"queue": "热线"}, "metadata.agent_id": "K08"},
        ]
    )
    (conversation,) = conversations_from_table(frame)
    assert conversation.id == "1"
    assert conversation.metadata == {"queue": "热线", "agent_id": "K08"}
    assert conversation.turns[0].model_dump() == {"speaker": "agent", "text": "您好", "start": 1.0, "end": None}


def test_list_of_dicts_in_both_shapes() -> None:
    assert dumps(conversations_from_table(records())) == dumps(load_conversations(JSONL))
    assert dumps(conversations_from_table(per_turn_rows())) == dumps(load_conversations(JSONL))
    assert dumps(conversations_from_table(r for r in records())) == dumps(load_conversations(JSONL))
    empty = conversations_from_table([])
    assert (list(empty), empty.errors) == ([], [])


def test_datasets_in_both_shapes() -> None:
    datasets = pytest.importorskip("datasets")
    reference = {c.id: c.model_dump() for c in load_conversations(JSONL)}
    # A Dataset column holds one type: the calls (seconds) apart from the chats (ISO text).
    calls = [{"notes": None, **r} for r in records() if r["channel"] == "call"]
    per_conversation = datasets.Dataset.from_list(calls)
    loaded = conversations_from_table(per_conversation)
    assert not loaded.errors and [c.id for c in loaded] == [r["id"] for r in calls]
    assert all(c.model_dump() == reference[c.id] for c in loaded)

    per_turn = datasets.Dataset.from_pandas(pd.read_csv(CSV))
    assert dumps(conversations_from_table(per_turn)) == dumps(load_conversations(CSV))

    # A Sequence feature of dicts comes back as a dict of lists.
    features = datasets.Features(
        {"id": datasets.Value("string"),
         "turns": datasets.Sequence({"speaker": datasets.Value("string"), "text": datasets.Value("string")})}
    )
    sequence = datasets.Dataset.from_dict(
        {"id": ["s1"], "turns": [{"speaker": ["用户", "客服"], "text": ["在吗", "在的"]}]}, features=features
    )
    assert isinstance(sequence[0]["turns"], dict)
    (conversation,) = conversations_from_table(sequence)
    assert [(t.speaker, t.text) for t in conversation.turns] == [("customer", "在吗"), ("agent", "在的")]

    splits = datasets.DatasetDict({"train": per_conversation})
    with pytest.raises(TypeError, match=r"holds several splits \(train\); pass one of them"):
        conversations_from_table(splits)


def test_load_conversations_of_a_dataframe() -> None:
    assert dumps(load_conversations(pd.read_csv(CSV))) == dumps(load_conversations(CSV))
    records = [c.model_dump(mode="json", exclude_none=True) for c in load_conversations(CSV)]
    assert dumps(load_conversations(records)) == dumps(load_conversations(CSV))


# --------------------------------------------------------------------------- conversation errors


def test_per_turn_errors_name_the_row_and_the_rest_load() -> None:
    frame = pd.read_csv(CSV)
    frame.loc[3, "speaker"] = "路人"
    frame.loc[5, "start"] = "soon"
    loaded = conversations_from_table(frame)
    assert [c.id for c in loaded] == ["c017"]
    (error,) = loaded.errors
    assert error.conversation_id == "c016"
    assert [str(p) for p in error.problems] == [
        "<DataFrame>:row 3: turns[3].speaker: unknown speaker '路人'; use agent/customer/system or an "
        "alias such as 客服, 坐席, 客服代表, 工作人员, staff, 客户, 用户, 顾客, user",
        "<DataFrame>:row 5: turns[5].start: time 'soon' is not seconds, mm:ss, hh:mm:ss or an ISO-8601 datetime",
    ]
    assert all(isinstance(p, RowProblem) for p in error.problems)
    assert [p.line for p in error.problems] == [3, 5]


def test_per_turn_row_problems() -> None:
    rows = [
        {"conversation_id": "a", "speaker": "agent", "text": "您好", "channel": "chat"},
        {"conversation_id": "a", "speaker": "customer", "text": "在", "channel": "call"},
        {"conversation_id": None, "speaker": "agent", "text": "x"},
        "not a row",
        {"conversation_id": "b", "speaker": "agent"},
        {"conversation_id": "c", "speaker": "agent", "text": "ok"},
    ]
    loaded = conversations_from_table(rows, name="chats")
    assert [c.id for c in loaded] == ["c"]
    assert messages(loaded) == [
        "chats:row 2: conversation_id: is empty",
        "chats:row 3: expected a dict per row, got str",
        "chats:row 1: channel: rows 0 and 1 of conversation 'a' disagree ('chat' vs 'call'); "
        "give one value per conversation",
        "chats:row 4: turns[0].text: is required",
    ]


def test_per_conversation_errors_name_the_row() -> None:
    rows = [
        {"id": "a", "turns": [{"speaker": "客服", "text": "您好", "start": "2024-05-01T10:00:03+08:00"}]},
        {"id": "b", "turns": [{"speaker": "路人", "text": "hi"}], "chanel": "chat"},
        {"id": "a", "turns": [{"speaker": "agent", "text": "again"}]},
        {"id": "c", "turns": []},
    ]
    loaded = conversations_from_table(rows)
    assert [c.id for c in loaded] == ["a"]
    assert loaded[0].started_at is not None
    assert messages(loaded) == [
        "<list>:row 1: turns[0].speaker: unknown speaker '路人'; use agent/customer/system or an alias "
        "such as 客服, 坐席, 客服代表, 工作人员, staff, 客户, 用户, 顾客, user",
        "<list>:row 1: chanel: is not a known field",
        "<list>:row 2: id: duplicate conversation id 'a' (first at row 0)",
        "<list>:row 3: turns: List should have at least 1 item after validation, not 0",
    ]
    with pytest.raises(ConversationError, match=r"^<list>:row 1: turns\[0\]\.speaker: unknown speaker"):
        conversations_from_table(rows, strict=True)


def test_missing_columns_and_wrong_inputs() -> None:
    loaded = conversations_from_table(pd.DataFrame({"who": ["agent"], "text": ["hi"]}))
    assert messages(loaded) == [
        "<DataFrame>: columns lack 'conversation_id', 'speaker'; expected one row per turn "
        "(conversation_id, speaker, text[, start, end, channel, notes, knowledge, metadata.*]) or one row per "
        "conversation (id, turns[, channel, notes, knowledge, metadata])"
    ]
    with pytest.raises(TypeError, match="not str; read files with load_conversations"):
        conversations_from_table("examples/conversations.jsonl")
    with pytest.raises(TypeError, match="not dict"):
        conversations_from_table({"id": "a"})


def test_table_records_cleans_cells() -> None:
    frame = pd.DataFrame(
        {"a": [1, 2], "b": [float("nan"), 2.5], "c": pd.array([pd.NA, "x"], dtype="string"),
         "d": pd.to_timedelta([1.5, 2], unit="s")}
    )
    assert table_records(frame) == [{"a": 1, "d": 1.5}, {"a": 2, "b": 2.5, "c": "x", "d": 2.0}]
    assert type(table_records(frame)[0]["a"]) is int
    with pytest.raises(InputError, match=r"^<list>:row 1: expected a dict per row, got int$"):
        table_records([{"a": 1}, 5])


def test_pandas_is_imported_only_when_given() -> None:
    code = (
        "import sys, llm_grader.conversation as c, llm_grader._export as t\n"
        "got = c.conversations_from_table([{'id': 'a', 'turns': [{'speaker': '客服', 'text': 'hi'}]}])\n"
        "assert len(got) == 1 and t.results_to_records([]) == []\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'datasets') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- human scores in


def test_load_human_scores_from_a_dataframe() -> None:
    frame = pd.DataFrame(
        {
            "conversation_id": ["c001", "c001", "c001", 1002],
            "rater": ["qa1", "qa1", "qa1", "qa2"],
            "item_id": ["politeness", "total", "fatal", "politeness"],
            "value": ["好", 85.5, True, "good"],
        }
    )
    scores = load_human_scores(frame)
    assert [(s.conversation_id, s.item_id, s.value) for s in scores] == [
        ("c001", "politeness", "好"), ("c001", "total", "85.5"), ("c001", "fatal", "1"), ("1002", "politeness", "good")
    ]
    totals = pd.DataFrame({"conversation_id": ["x", "y"], "rater": ["a", None], "item_id": ["total", "total"],
                           "value": [90.0, math.nan]})
    assert [s.value for s in load_human_scores(totals.iloc[:1])] == ["90"]
    with pytest.raises(InputError) as info:
        load_human_scores(totals)
    assert [str(p) for p in info.value.problems] == [
        "<DataFrame>:row 1: rater: is missing; each row needs conversation_id, rater, item_id, value"
    ]
    with pytest.raises(InputError, match=r"^<DataFrame>: columns lack rater; expected conversation_id,rater,item_id,value$"):
        load_human_scores(pd.DataFrame({"conversation_id": ["x"], "item_id": ["total"], "value": [1]}))
    assert load_human_scores(pd.DataFrame(columns=["conversation_id", "rater", "item_id", "value"])) == []


# --------------------------------------------------------------------------- results out


@pytest.fixture(scope="module")
def cards() -> list[Scorecard]:
    return Grader(load_rubric("internet_cs_qa")).grade_many(load_conversations(JSONL))


@pytest.fixture(scope="module")
def results_path(cards: list[Scorecard], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("results") / "scorecards.jsonl"
    writer = ResultsWriter(path)
    for card in cards:
        writer.write(card)
    writer.close()
    return path


ITEM_COLUMNS = [
    "conversation_id", "rubric_id", "rubric_version", "model", "item_id", "name", "category_id", "judge",
    "tier", "tier_label", "points", "max_points", "not_applicable", "needs_review", "error", "measured",
    "occurrences", "flags", "evidence_count", "evidence_quote", "evidence", "rationale", "review",
    "metadata.channel", "metadata.business", "metadata.agent_id", "metadata.queue", "metadata.language",
]
CONVERSATION_COLUMNS = [
    "conversation_id", "rubric_id", "rubric_version", "model", "total_score", "max_score", "fatal",
    "zero_score", "overrides", "pending_overrides", "complete", "unscored_points", "total_min", "total_max",
    "masked", "errors", "items_graded", "items_unscored", "items_needs_review", "usage.calls", "usage.cached_calls",
    "usage.prompt_tokens", "usage.completion_tokens", "usage.cached_tokens", "usage.cost", "usage.unpriced_calls",
    "category.service_etiquette",
    "category.information_entry", "category.norm_execution", "category.service_attitude",
    "category.business_ability", "category.service_ability",
    "metadata.channel", "metadata.business", "metadata.agent_id", "metadata.queue", "metadata.language",
]


def test_item_records(cards: list[Scorecard]) -> None:
    rows = results_to_records(cards)
    assert len(rows) == 140 and all(list(r) == ITEM_COLUMNS for r in rows)
    c001 = [r for r in rows if r["conversation_id"] == "c001"]
    assert [r["item_id"] for r in c001] == [i.item_id for i in cards[0].items]
    by_item = {r["item_id"]: r for r in c001}
    first_response = cards[0].item("first_response_time")
    assert by_item["first_response_time"] == {
        "conversation_id": "c001", "rubric_id": "internet_cs_qa", "rubric_version": "1.3", "model": None,
        "item_id": "first_response_time", "name": "首次回应时长规范", "category_id": "service_etiquette",
        "judge": "rule", "tier": "good", "tier_label": "好", "points": 5.0, "max_points": 5.0,
        "not_applicable": False, "needs_review": False, "error": None, "measured": 8.0, "occurrences": None,
        "flags": "", "evidence_count": 1, "evidence_quote": first_response.evidence[0].quote,
        "evidence": f"turn {first_response.evidence[0].turn}: {first_response.evidence[0].quote}",
        "rationale": first_response.rationale, "review": None,
        "metadata.channel": "chat", "metadata.business": "宽带", "metadata.agent_id": "A1023",
        "metadata.queue": "在线客服", "metadata.language": None,
    }
    assert first_response.evidence[0].quote.startswith("您好,很高兴为您服务")
    politeness = by_item["politeness"]
    assert (politeness["judge"], politeness["tier"], politeness["points"], politeness["needs_review"]) == (
        "model", None, None, True
    )
    assert politeness["error"] == text("grader.not_graded", "zh")
    assert politeness["evidence_count"] == 0 and politeness["evidence_quote"] is None is politeness["evidence"]
    not_applicable = [r for r in rows if r["not_applicable"]]
    assert not_applicable and all(r["tier"] is None and r["points"] is None for r in not_applicable)
    assert {r["metadata.language"] for r in rows if r["conversation_id"] == "c014"} == {"en"}


def test_conversation_records(cards: list[Scorecard]) -> None:
    rows = results_to_records(cards, level="conversation")
    assert len(rows) == 14 and all(list(r) == CONVERSATION_COLUMNS for r in rows)
    card = cards[0]
    pending = "; ".join(f"{o.kind}:{o.id}" for o in card.pending_overrides)
    assert pending.startswith("fatal:")  # rules only: the model items that could fire them are open
    assert rows[0] == {
        "conversation_id": "c001", "rubric_id": "internet_cs_qa", "rubric_version": "1.3", "model": None,
        "total_score": 5.0, "max_score": 100.0, "fatal": card.fatal, "zero_score": card.zero_score,
        "overrides": "", "pending_overrides": pending, "complete": False, "unscored_points": 95.0,
        "total_min": card.total_min, "total_max": card.total_max, "masked": "", "errors": "",
        "items_graded": 1, "items_unscored": 9, "items_needs_review": 9,
        "usage.calls": 0, "usage.cached_calls": 0, "usage.prompt_tokens": 0,
        "usage.completion_tokens": 0, "usage.cached_tokens": 0, "usage.cost": 0.0, "usage.unpriced_calls": 0,
        "category.service_etiquette": 5.0,
        "category.information_entry": 0.0, "category.norm_execution": 0.0, "category.service_attitude": 0.0,
        "category.business_ability": 0.0, "category.service_ability": 0.0, "metadata.channel": "chat",
        "metadata.business": "宽带", "metadata.agent_id": "A1023", "metadata.queue": "在线客服",
        "metadata.language": None,
    }
    assert [r["total_score"] for r in rows] == [c.total_score for c in cards]
    assert results_columns(cards, "conversation") == CONVERSATION_COLUMNS


def test_records_from_a_results_path(cards: list[Scorecard], results_path: Path) -> None:
    assert results_to_records(results_path) == results_to_records(cards)
    assert results_to_records(str(results_path), "conversation") == results_to_records(cards, "conversation")
    with pytest.raises(LLMGraderError, match=r"results file 'nowhere\.jsonl' does not exist"):
        results_to_records("nowhere.jsonl")
    with pytest.raises(LLMGraderError, match="level must be 'item' or 'conversation', not 'turn'"):
        results_to_records(cards, "turn")  # type: ignore[arg-type]


def test_metadata_columns_hold_one_type_and_overrides_and_reviews_show(cards: list[Scorecard]) -> None:
    item = cards[0].item("first_response_time")
    verdict = ReviewVerdict(reviewer="王", decision="accept", original_tier="good")
    reviewed = item.model_copy(update={"audit": item.audit.model_copy(update={"review": verdict}),
                                       "flags": {"b": True, "a": True, "c": False}})
    hits = [OverrideHit(id="taboo", kind="fatal", reason="r", items=["politeness"]),
            OverrideHit(id="cap60", kind="cap", reason="r", items=["focus"])]
    first = cards[0].model_copy(update={"metadata": {"score": 3, "tags": {"x": 1}}, "items": [reviewed],
                                        "errors": ["e1", "e2"], "overrides": hits})
    second = cards[1].model_copy(update={"metadata": {"score": "high", "tags": ["y"]}})
    rows = results_to_records([first, second], "item")
    assert [r["metadata.score"] for r in rows[:2]] == ["3", "high"]
    assert rows[0]["metadata.tags"] == '{"x": 1}' and rows[1]["metadata.tags"] == '["y"]'
    assert (rows[0]["review"], rows[0]["flags"]) == ("accept", "a,b")
    summary = results_to_records([first, second], "conversation")
    assert summary[0]["errors"] == "e1; e2" and summary[0]["items_graded"] == 1
    assert summary[0]["overrides"] == "fatal:taboo; cap:cap60" and summary[1]["overrides"] == ""
    numbers = results_to_records([cards[0].model_copy(update={"metadata": {"n": 1}}),
                                  cards[1].model_copy(update={"metadata": {"n": 2.5}})], "conversation")
    assert [r["metadata.n"] for r in numbers] == [1, 2.5]


def test_frames(cards: list[Scorecard]) -> None:
    for level, columns in (("item", ITEM_COLUMNS), ("conversation", CONVERSATION_COLUMNS)):
        frame = results_to_frame(cards, level=level)
        rows = results_to_records(cards, level=level)
        assert list(frame.columns) == columns and len(frame) == len(rows)
        expected = pd.DataFrame(rows, columns=columns)
        pd.testing.assert_frame_equal(frame, expected)
    items = results_to_frame(cards)
    first_response = items[items["item_id"] == "first_response_time"]
    assert first_response["points"].tolist() == [c.item("first_response_time").points for c in cards]
    assert first_response["points"].iloc[0] == 5.0 and first_response["tier_label"].iloc[0] == "好"
    assert items["points"].isna().sum() == sum(1 for c in cards for i in c.items if i.points is None)
    assert items["points"].dtype == "float64" and items["needs_review"].dtype == bool
    empty = results_to_frame([], level="conversation")
    assert list(empty.columns) == CONVERSATION_COLUMNS[:26] and len(empty) == 0


def test_datasets_out(cards: list[Scorecard]) -> None:
    pytest.importorskip("datasets")
    dataset = results_to_dataset(cards, level="conversation")
    assert dataset.column_names == CONVERSATION_COLUMNS and dataset.num_rows == 14
    assert dataset[0] == results_to_records(cards, "conversation")[0]
    items = results_to_dataset(cards)
    assert items.column_names == ITEM_COLUMNS and items.num_rows == 140
    assert items.to_list() == results_to_records(cards)


def test_missing_optional_package_says_how_to_install(cards: list[Scorecard], monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(LLMGraderError, match=r'^pandas is not installed: pip install "llm-grader\[pandas\]"$'):
        results_to_frame(cards)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(LLMGraderError, match=r'^pyarrow is not installed: pip install "llm-grader\[parquet\]"$'):
        export_results(cards, tmp_path / "out.parquet")


# --------------------------------------------------------------------------- llm-grader export


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "llm_grader", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", cwd=cwd, timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONIOENCODING": "utf-8", **(env or {})},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def cell(value: Any) -> str:
    return "" if value is None else str(value)


@pytest.mark.parametrize("level", ["item", "conversation"])
def test_export_csv(cards: list[Scorecard], results_path: Path, tmp_path: Path, level: str) -> None:
    target = tmp_path / "out" / "scores.csv"
    result = run("export", results_path, "-o", target, "--level", level, cwd=tmp_path)
    rows = results_to_records(cards, level)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == text("export.written", "zh", n=len(rows), level=level, path=target)
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfconversation_id,rubric_id,")
    with target.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == list(rows[0])
    assert table[1:] == [[cell(v) for v in row.values()] for row in rows]
    assert "宽带" in data.decode("utf-8-sig")
    frame = pd.read_csv(target)
    assert list(frame.columns) == list(rows[0]) and len(frame) == len(rows)


def test_export_csv_is_the_default_level(results_path: Path, tmp_path: Path) -> None:
    result = run("export", results_path, "-o", "items.csv", cwd=tmp_path)
    assert result.returncode == 0
    assert len((tmp_path / "items.csv").read_text(encoding="utf-8-sig").splitlines()) == 141


def test_export_parquet(cards: list[Scorecard], results_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    result = run("export", results_path, "-o", "scores.parquet", "--level", "conversation", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(tmp_path / "scores.parquet")
    expected = results_to_frame(cards, level="conversation")
    assert list(frame.columns) == CONVERSATION_COLUMNS
    pd.testing.assert_frame_equal(frame, expected)
    assert frame["total_score"].tolist() == [c.total_score for c in cards]
    items = run("export", results_path, "-o", "items.parquet", cwd=tmp_path)
    assert items.returncode == 0
    assert pd.read_parquet(tmp_path / "items.parquet").shape == (140, len(ITEM_COLUMNS))


def test_export_errors_are_one_line_and_exit_1(results_path: Path, tmp_path: Path) -> None:
    missing = run("export", "nowhere.jsonl", "-o", "x.csv", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (1, "error: results file 'nowhere.jsonl' does not exist\n")
    suffix = run("export", results_path, "-o", "x.xlsx", cwd=tmp_path)
    assert (suffix.returncode, suffix.stderr) == (1, "error: cannot write 'x.xlsx': use a .csv or .parquet file name\n")
    level = run("export", results_path, "-o", "x.csv", "--level", "turn", cwd=tmp_path)
    assert (level.returncode, level.stderr) == (1, "error: level must be 'item' or 'conversation', not 'turn'\n")
    torn = tmp_path / "bad.jsonl"
    torn.write_text('{"conversation_id": 1}\n\n', encoding="utf-8")
    bad = run("export", torn, "-o", "x.csv", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.startswith(f"error: {torn}:1: ")
    assert "not a scorecard" in bad.stderr
    assert len(bad.stderr.splitlines()) == 1
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.xlsx").exists()


def test_export_parquet_without_pyarrow(results_path: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "blocked" / "pyarrow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'pyarrow'\")\n")
    result = run("export", results_path, "-o", "x.parquet", cwd=tmp_path, env={"PYTHONPATH": str(blocker.parent)})
    assert result.returncode == 1
    assert result.stderr == 'error: pyarrow is not installed: pip install "llm-grader[parquet]"\n'


# --------------------------------------------------------------------------- round trip


def test_round_trip_dataframe_grade_frame_human_scores_calibrate() -> None:
    rubric = load_rubric("internet_cs_qa")
    conversations = conversations_from_table(pd.DataFrame(per_turn_rows()))
    assert not conversations.errors and len(conversations) == 14
    cards = Grader(rubric, model=FakeJudge.top_tier(rubric)).grade_many(conversations)
    items = results_to_frame(cards)
    totals = results_to_frame(cards, level="conversation")
    assert items["metadata.agent_id"].iloc[0] == "A1023" and totals["complete"].all()

    # A human who agrees with every grade, derived from the frames.
    graded = items[items["tier"].notna() | items["not_applicable"]]
    humans = pd.concat(
        [
            pd.DataFrame({"conversation_id": graded["conversation_id"], "rater": "qa1",
                          "item_id": graded["item_id"],
                          "value": graded["tier"].where(~graded["not_applicable"], "not_applicable")}),
            pd.DataFrame({"conversation_id": totals["conversation_id"], "rater": "qa1", "item_id": "total",
                          "value": totals["total_score"]}),
            pd.DataFrame({"conversation_id": totals["conversation_id"], "rater": "qa1", "item_id": "fatal",
                          "value": totals["fatal"]}),
        ],
        ignore_index=True,
    )
    scores = load_human_scores(humans)
    assert len(scores) == len(graded) + 28
    report = calibrate(rubric, cards, scores, n_boot=50, seed=0)
    assert report.conversations == 14 and report.raters == ["qa1"]
    compared = [i for i in report.items if i.model_human.n]
    assert len(compared) == 10 and all(i.model_human.exact == 1.0 for i in compared)
    assert report.totals is not None and report.totals.mae == 0.0
    assert report.fatal is not None and report.fatal.n == 14


def test_round_trip_frames_grade_review_calibrate(tmp_path: Path) -> None:
    """Conversations DataFrame → grade → results frame → reviewers' verdicts → human scores → calibrate."""
    from llm_grader import Grader, load_rubric
    from llm_grader.calibration import calibrate, load_human_scores
    from llm_grader.review import VerdictStore, write_human_scores
    from llm_grader.testing import FakeJudge
    from llm_grader.types import ReviewVerdict

    rubric = load_rubric("internet_cs_qa")
    conversations = load_conversations(pd.read_csv(CSV))
    cards = Grader(rubric, model=FakeJudge.top_tier(rubric)).grade_many(conversations)
    frame = results_to_frame(cards, level="item")
    graded = frame[(frame["judge"] == "model") & frame["tier"].notna()]
    assert len(graded) > 0
    with VerdictStore(tmp_path / "review.sqlite") as store:
        for number, row in enumerate(graded.itertuples()):
            override = number % 3 == 0  # the reviewer disagrees with every third grade
            verdict = ReviewVerdict(reviewer="rater_qa", decision="override" if override else "accept",
                                    tier="poor" if override else None, original_tier=row.tier,
                                    reason="复核" if override else "")
            store.record(row.conversation_id, row.item_id, verdict)
        written = write_human_scores(store.latest(), tmp_path / "human.csv")
    assert written == len(graded)
    humans = pd.read_csv(tmp_path / "human.csv", dtype=str)
    report = calibrate(rubric, cards, load_human_scores(humans), n_boot=20)
    agreement = {i.item_id: i for i in report.items}
    politeness = agreement["politeness"]
    assert politeness.model_human.n > 0 and politeness.model_human.exact < 1.0  # overrides show as disagreement
