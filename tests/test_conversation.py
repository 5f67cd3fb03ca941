"""The conversation loader: JSONL, CSV and plain text, times, speakers, encodings, errors."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llm_grader import Conversation, load_conversations
from llm_grader.conversation import SPEAKER_ALIASES, Conversations, Turn, parse_time
from llm_grader.errors import ConversationError, InputError, NotFoundError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CST = timezone(timedelta(hours=8))

UNKNOWN_SPEAKER = (
    "unknown speaker '经理'; use agent/customer/system or an alias such as "
    "客服, 坐席, 客服代表, 工作人员, staff, 客户, 用户, 顾客, user"
)


# --------------------------------------------------------------------------- helpers


def record(conv_id: str = "x", turns: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A JSONL conversation record with one agent turn by default."""
    data: dict[str, Any] = {"id": conv_id, **fields}
    data["turns"] = [{"speaker": "agent", "text": "您好"}] if turns is None else turns
    return data


def write_jsonl(tmp_path: Path, *lines: dict[str, Any] | str, name: str = "convs.jsonl") -> Path:
    """Write one line per item: dicts as JSON, strings verbatim."""
    path = tmp_path / name
    text = "\n".join(
        line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines
    )
    path.write_text(text + "\n", encoding="utf-8")
    return path


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def load_one(path: Path, **kwargs: Any) -> Conversation:
    """Load a file that must hold exactly one valid conversation."""
    loaded = load_conversations(path, **kwargs)
    assert loaded.errors == []
    assert len(loaded) == 1
    return loaded[0]


def only_error(path: Path, **kwargs: Any) -> ConversationError:
    """Load a file that must yield no conversation and exactly one error."""
    loaded = load_conversations(path, **kwargs)
    assert list(loaded) == []
    assert len(loaded.errors) == 1
    return loaded.errors[0]


# --------------------------------------------------------------------------- examples/


class TestExamples:
    def test_all_seventeen_load_without_errors(self) -> None:
        loaded = load_conversations(EXAMPLES)
        assert isinstance(loaded, Conversations)
        assert loaded.errors == []
        assert sorted(c.id for c in loaded) == sorted(
            [f"c{n:03d}" for n in range(1, 15)] + ["call_c015", "c016", "c017"]
        )

    def test_c002_first_agent_reply_is_95_seconds_after_customer(self, by_id: dict[str, Any]) -> None:
        turns = by_id["c002"].turns
        first_agent = next(t for t in turns if t.speaker == "agent")
        first_customer = next(t for t in turns if t.speaker == "customer")
        assert first_agent.start - first_customer.start == 95.0

    def test_jsonl_chats_keep_timezone_aware_started_at(self, by_id: dict[str, Any]) -> None:
        c001 = by_id["c001"]
        assert c001.started_at == datetime(2024, 5, 1, 10, 0, 3, tzinfo=CST)
        assert c001.started_at.utcoffset() == timedelta(hours=8)
        assert [t.start for t in c001.turns[:3]] == [0.0, 8.0, 43.0]
        chats = [c for c in by_id.values() if c.channel == "chat" and c.id not in ("c016", "c017")]
        assert {c.id for c in chats} == {"c001", "c002", "c004", "c006", "c007", "c011", "c012", "c014"}
        for chat in chats:
            assert chat.started_at is not None and chat.started_at.tzinfo is not None, chat.id
            assert min(t.start for t in chat.turns) == 0.0

    def test_csv_chats_keep_their_naive_started_at(self, by_id: dict[str, Any]) -> None:
        # chats.csv writes "2024-05-03 14:00:05" with no zone, so started_at is naive.
        assert by_id["c016"].started_at == datetime(2024, 5, 3, 14, 0, 5)
        assert by_id["c017"].started_at == datetime(2024, 5, 3, 15, 30, 10)
        assert [t.start for t in by_id["c016"].turns[:3]] == [0.0, 12.0, 32.0]

    def test_jsonl_calls_have_float_starts_and_ends(self, by_id: dict[str, Any]) -> None:
        calls = [c for c in by_id.values() if c.channel == "call" and c.id != "call_c015"]
        assert {c.id for c in calls} == {"c003", "c005", "c008", "c009", "c010", "c013"}
        for call in calls:
            assert call.started_at is None
            assert call.has_end_times
            for turn in call.turns:
                assert type(turn.start) is float and type(turn.end) is float
                assert turn.end >= turn.start
        assert (by_id["c003"].turns[0].start, by_id["c003"].turns[0].end) == (0.8, 1.3)

    def test_notes(self, by_id: dict[str, Any]) -> None:
        assert by_id["c001"].notes.startswith(
            "客户(手机号138****5678,宽带账号尾号5678)反映今早起宽带无法上网"
        )
        assert {c.id for c in by_id.values() if c.has_notes} == {"c001", "c006", "c009", "c010", "c013"}
        assert by_id["c002"].notes is None

    def test_metadata_is_carried(self, by_id: dict[str, Any]) -> None:
        assert by_id["c001"].metadata == {"business": "宽带", "agent_id": "A1023", "queue": "在线客服"}

    def test_text_file_id_is_its_stem(self, by_id: dict[str, Any]) -> None:
        call = by_id["call_c015"]
        assert call.channel == "call"
        assert call.started_at is None
        assert call.has_timestamps and not call.has_end_times
        assert [t.start for t in call.turns] == [
            1.0,
            7.0,
            15.0,
            20.0,
            23.0,
            37.0,
            49.0,
            51.0,
            63.0,
            65.0,
            68.0,
            70.0,
            73.0,
        ]
        # 客服/坐席 → agent, 客户/用户 → customer, with both ':' and '：' separators.
        assert [t.speaker for t in call.turns[:4]] == ["agent", "customer", "agent", "customer"]
        assert call.turns[1].text == "你好,我家宽带今天下午开始网速特别慢,打开个网页都要等好久。"
        assert call.turns[-1] == Turn(speaker="customer", text="再见。", start=73.0)

    def test_csv_speakers_are_mapped(self, by_id: dict[str, Any]) -> None:
        mapping = {"客服": "agent", "顾客": "customer", "agent": "agent", "user": "customer"}
        with (EXAMPLES / "chats.csv").open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert {r["speaker"] for r in rows} == set(mapping)
        for conv_id in ("c016", "c017"):
            expected = [(mapping[r["speaker"]], r["text"]) for r in rows if r["conversation_id"] == conv_id]
            assert [(t.speaker, t.text) for t in by_id[conv_id].turns] == expected
            assert by_id[conv_id].channel == "chat"

    def test_loading_a_single_file(self) -> None:
        loaded = load_conversations(EXAMPLES / "conversations.jsonl")
        assert loaded.errors == []
        assert [c.id for c in loaded] == [f"c{n:03d}" for n in range(1, 15)]

    def test_several_sources(self) -> None:
        loaded = load_conversations(EXAMPLES / "chats.csv", EXAMPLES / "call_c015.txt")
        assert [c.id for c in loaded] == ["c016", "c017", "call_c015"]


# --------------------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        (7, 7.0),
        (7.5, 7.5),
        ("7.5", 7.5),
        (" 12 ", 12.0),
        ("01:05", 65.0),
        ("1:05", 65.0),
        ("00:01:05", 65.0),
        ("1:02:03", 3723.0),
        ("01:02.5", 62.5),
        ("01:02:03.5", 3723.5),
        ("2024-05-01T10:00:03", datetime(2024, 5, 1, 10, 0, 3)),
        ("2024-05-01 10:00:03", datetime(2024, 5, 1, 10, 0, 3)),
        ("2024-05-01T10:00:03Z", datetime(2024, 5, 1, 10, 0, 3, tzinfo=timezone.utc)),
        ("2024-05-01T10:00:03+08:00", datetime(2024, 5, 1, 10, 0, 3, tzinfo=CST)),
        ("2024-05-01 10:00:03+08:00", datetime(2024, 5, 1, 10, 0, 3, tzinfo=CST)),
    ],
)
def test_parse_time(value: object, expected: float | datetime) -> None:
    result = parse_time(value)
    assert result == expected
    assert type(result) is type(expected)
    if isinstance(expected, datetime):
        assert result.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "time 'abc' is not seconds, mm:ss, hh:mm:ss or an ISO-8601 datetime"),
        ("100:00", "time '100:00' is not seconds, mm:ss, hh:mm:ss or an ISO-8601 datetime"),
        (None, "time None is not seconds, mm:ss, hh:mm:ss or an ISO-8601 datetime"),
        (-1, "time -1 is negative"),
        ("-5", "time -5.0 is negative"),
        (True, "time True is a boolean"),
        (False, "time False is a boolean"),
    ],
)
def test_parse_time_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_time(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("starts", "expected_starts", "started_at"),
    [
        ([0, 2.5, "7"], [0.0, 2.5, 7.0], None),
        (["00:01", "00:03", "01:00"], [1.0, 3.0, 60.0], None),
        (
            ["2024-05-01T10:00:00", "2024-05-01 10:00:05", "2024-05-01T10:01:00"],
            [0.0, 5.0, 60.0],
            datetime(2024, 5, 1, 10, 0, 0),
        ),
        (
            ["2024-05-01T02:00:00Z", "2024-05-01T10:00:30+08:00", "2024-05-01T02:01:00Z"],
            [0.0, 30.0, 60.0],
            datetime(2024, 5, 1, 2, 0, 0, tzinfo=timezone.utc),
        ),
    ],
)
def test_times_are_normalised_to_seconds_from_start(
    tmp_path: Path, starts: list[object], expected_starts: list[float], started_at: datetime | None
) -> None:
    turns = [{"speaker": "agent", "text": f"t{i}", "start": s} for i, s in enumerate(starts)]
    conv = load_one(write_jsonl(tmp_path, record(turns=turns)))
    assert [t.start for t in conv.turns] == expected_starts
    assert conv.started_at == started_at


def test_started_at_is_the_earliest_datetime_even_if_not_first(tmp_path: Path) -> None:
    turns = [
        {"speaker": "agent", "text": "a", "start": "2024-05-01T10:00:10Z"},
        {"speaker": "customer", "text": "b", "start": "2024-05-01T10:00:00Z"},
    ]
    conv = load_one(write_jsonl(tmp_path, record(turns=turns)))
    assert conv.started_at == datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)
    assert [t.start for t in conv.turns] == [10.0, 0.0]


def test_explicit_started_at_is_kept(tmp_path: Path) -> None:
    conv = load_one(write_jsonl(tmp_path, record(started_at="2024-05-01T10:00:00+08:00")))
    assert conv.started_at == datetime(2024, 5, 1, 10, 0, tzinfo=CST)


@pytest.mark.parametrize(
    ("turns", "field", "message"),
    [
        (
            [
                {"speaker": "agent", "text": "a", "start": "2024-05-01T10:00:00+08:00"},
                {"speaker": "customer", "text": "b", "start": 5},
            ],
            "turns[0].start",
            "mixes datetimes and second offsets; use one kind",
        ),
        (
            [
                {"speaker": "agent", "text": "a", "start": "2024-05-01T10:00:00+08:00"},
                {"speaker": "customer", "text": "b", "start": "2024-05-01T10:00:05"},
            ],
            "turns[0].start",
            "mixes datetimes with and without a time zone",
        ),
        (
            [{"speaker": "agent", "text": "a", "start": 5, "end": 3}],
            "turns[0].end",
            "end 3s is before start 5s",
        ),
        (
            [
                {"speaker": "agent", "text": "a", "start": 1},
                {"speaker": "agent", "text": "b", "start": 2.5, "end": 1.25},
            ],
            "turns[1].end",
            "end 1.25s is before start 2.5s",
        ),
        (
            [{"speaker": "agent", "text": "a", "start": "abc"}],
            "turns[0].start",
            "time 'abc' is not seconds, mm:ss, hh:mm:ss or an ISO-8601 datetime",
        ),
        (
            [{"speaker": "agent", "text": "a", "start": -1}],
            "turns[0].start",
            "time -1 is negative",
        ),
        (
            [{"speaker": "agent", "text": "a", "start": True}],
            "turns[0].start",
            "time True is a boolean",
        ),
    ],
    ids=[
        "datetime+seconds",
        "naive+aware",
        "end<start",
        "end<start-fraction",
        "bad-time",
        "negative",
        "bool",
    ],
)
def test_time_errors(tmp_path: Path, turns: list[dict[str, Any]], field: str, message: str) -> None:
    path = write_jsonl(tmp_path, record(turns=turns))
    error = only_error(path)
    assert error.conversation_id == "x"
    assert str(error) == f"{path}:1: {field}: {message}"
    (problem,) = error.problems
    assert (problem.file, problem.line, problem.field, problem.message) == (str(path), 1, field, message)


# --------------------------------------------------------------------------- speakers


@pytest.mark.parametrize(
    ("alias", "speaker"),
    [
        ("agent", "agent"),
        ("AGENT", "agent"),
        ("Agent", "agent"),
        (" staff ", "agent"),
        ("staff", "agent"),
        ("客服", "agent"),
        ("坐席", "agent"),
        ("客服代表", "agent"),
        ("工作人员", "agent"),
        ("customer", "customer"),
        ("Customer", "customer"),
        ("user", "customer"),
        ("客户", "customer"),
        ("用户", "customer"),
        ("顾客", "customer"),
        ("system", "system"),
        ("系统", "system"),
    ],
)
def test_speaker_aliases(tmp_path: Path, alias: str, speaker: str) -> None:
    conv = load_one(write_jsonl(tmp_path, record(turns=[{"speaker": alias, "text": "您好"}])))
    assert conv.turns[0].speaker == speaker


def test_speaker_alias_table_is_lower_cased() -> None:
    assert all(alias == alias.lower() for alias in SPEAKER_ALIASES)
    assert set(SPEAKER_ALIASES.values()) == {"agent", "customer", "system"}


def test_unknown_speaker(tmp_path: Path) -> None:
    turns = [{"speaker": "agent", "text": "您好"}, {"speaker": "经理", "text": "我来处理"}]
    path = write_jsonl(
        tmp_path, record("ok", turns=[{"speaker": "user", "text": "在吗"}]), record("x", turns=turns)
    )
    loaded = load_conversations(path)
    assert [c.id for c in loaded] == ["ok"]
    (error,) = loaded.errors
    assert error.conversation_id == "x"
    assert str(error) == f"{path}:2: turns[1].speaker: {UNKNOWN_SPEAKER}"


# --------------------------------------------------------------------------- JSONL errors


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, record("a"), record("b"), '{"id": "c", turns}')
    loaded = load_conversations(path)
    assert [c.id for c in loaded] == ["a", "b"]
    (error,) = loaded.errors
    assert error.conversation_id is None
    assert (
        str(error) == f"{path}:3: invalid JSON: Expecting property name enclosed in double quotes (column 13)"
    )
    assert error.problems[0].line == 3
    assert error.problems[0].field == ""


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, record("a"), "", "   ", "{")
    loaded = load_conversations(path)
    assert [c.id for c in loaded] == ["a"]
    assert (
        str(loaded.errors[0])
        == f"{path}:4: invalid JSON: Expecting property name enclosed in double quotes (column 2)"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("[1, 2]", "1: expected a JSON object per line, got list"),
        ('"c001"', "1: expected a JSON object per line, got str"),
        (record(), None),  # control: loads
        ({"id": "x"}, "1: turns: is required"),
        ({"turns": [{"speaker": "agent", "text": "hi"}]}, "1: id: is required"),
        (record(turns=[{"speaker": "agent"}]), "1: turns[0].text: is required"),
        (record(turns=[{"text": "hi"}]), "1: turns[0].speaker: is required"),
        (record(turns=["hi"]), "1: turns[0]: must be an object with speaker and text, not 'hi'"),
        (record(foo=1), "1: foo: is not a known field"),
        (
            record(turns=[{"speaker": "agent", "text": "hi", "who": "me"}]),
            "1: turns[0].who: is not a known field",
        ),
        (record(channel="email"), "1: channel: Input should be 'chat' or 'call' (got 'email')"),
    ],
    ids=[
        "list",
        "string",
        "valid",
        "no-turns",
        "no-id",
        "no-text",
        "no-speaker",
        "turn-not-object",
        "extra-field",
        "extra-turn-field",
        "bad-channel",
    ],
)
def test_jsonl_line_errors(tmp_path: Path, line: dict[str, Any] | str, expected: str | None) -> None:
    path = write_jsonl(tmp_path, line)
    if expected is None:
        assert load_one(path).id == "x"
        return
    error = only_error(path)
    assert isinstance(error, InputError)
    assert str(error) == f"{path}:{expected}"


def test_empty_turns(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, record(turns=[]))
    error = only_error(path)
    (problem,) = error.problems
    assert (problem.file, problem.line, problem.field) == (str(path), 1, "turns")
    # The wording is pydantic's; only its gist is pinned here.
    assert "at least 1 item" in problem.message


def test_empty_text(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, record(turns=[{"speaker": "agent", "text": ""}]))
    assert str(only_error(path)) == f"{path}:1: turns[0].text: String should have at least 1 character"


def test_several_problems_in_one_conversation_are_all_reported(tmp_path: Path) -> None:
    turns = [{"speaker": "经理", "text": "a"}, {"speaker": "agent", "text": "b", "start": "abc"}]
    path = write_jsonl(tmp_path, record(turns=turns, foo=1))
    error = only_error(path)
    assert [p.field for p in error.problems] == ["turns[0].speaker", "turns[1].start", "foo"]
    assert str(error).splitlines() == [
        f"{path}:1: turns[0].speaker: {UNKNOWN_SPEAKER}",
        f"{path}:1: turns[1].start: time 'abc' is not seconds, mm:ss, hh:mm:ss or an ISO-8601 datetime",
        f"{path}:1: foo: is not a known field",
    ]


class TestBadMiddleLine:
    @pytest.fixture
    def path(self, tmp_path: Path) -> Path:
        return write_jsonl(
            tmp_path,
            record("c1"),
            record("c2", turns=[{"speaker": "agent", "text": "hi", "start": 3, "end": 1}]),
            record("c3"),
        )

    def test_bad_line_is_skipped_and_kept_in_errors(self, path: Path) -> None:
        loaded = load_conversations(path)
        assert [c.id for c in loaded] == ["c1", "c3"]
        assert len(loaded.errors) == 1
        (error,) = loaded.errors
        assert isinstance(error, ConversationError)
        assert error.conversation_id == "c2"
        assert [p.line for p in error.problems] == [2]
        assert str(error) == f"{path}:2: turns[0].end: end 1s is before start 3s"

    def test_strict_raises(self, path: Path) -> None:
        with pytest.raises(ConversationError) as info:
            load_conversations(path, strict=True)
        assert str(info.value) == f"{path}:2: turns[0].end: end 1s is before start 3s"
        assert info.value.conversation_id == "c2"


def test_duplicate_ids_within_a_file(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path, record("x"), record("y"), record("x", turns=[{"speaker": "user", "text": "second"}])
    )
    loaded = load_conversations(path)
    assert [c.id for c in loaded] == ["x", "y"]
    assert loaded[0].turns[0].text == "您好"  # the first one wins
    (error,) = loaded.errors
    assert error.conversation_id == "x"
    assert str(error) == f"{path}:3: id: duplicate conversation id 'x' (first at {path}:1)"
    with pytest.raises(ConversationError, match="duplicate conversation id 'x'"):
        load_conversations(path, strict=True)


def test_duplicate_ids_across_files_and_sources(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path, record("x"), name="a.jsonl")
    second = write(tmp_path, "b.csv", "conversation_id,speaker,text\nx,agent,hi\ny,agent,hi\n")
    for loaded in (load_conversations(tmp_path), load_conversations(first, second)):
        assert [c.id for c in loaded] == ["x", "y"]
        (error,) = loaded.errors
        assert error.conversation_id == "x"
        assert error.problems[0].field == "id"
        assert str(error) == f"{second}:2: id: duplicate conversation id 'x' (first at {first}:1)"


# --------------------------------------------------------------------------- CSV


def test_csv_header_missing_text(tmp_path: Path) -> None:
    path = write(tmp_path, "chats.csv", "conversation_id,speaker\nx,agent\n")
    error = only_error(path)
    assert str(error) == (
        f"{path}:1: CSV header lacks 'text'; expected conversation_id,speaker,text[,start,end][,channel]"
    )
    assert error.problems[0].line == 1


def test_csv_header_missing_several_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "chats.csv", "speaker,foo\nagent,x\n")
    assert str(only_error(path)) == (
        f"{path}:1: CSV header lacks 'conversation_id', 'text'; "
        "expected conversation_id,speaker,text[,start,end][,channel]"
    )


def test_csv_unknown_speaker_skips_only_that_conversation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "chats.csv",
        "conversation_id,speaker,text\nx,agent,hi\ny,customer,ok\ny,经理,hello\nz,user,在吗\n",
    )
    loaded = load_conversations(path)
    assert [c.id for c in loaded] == ["x", "z"]
    (error,) = loaded.errors
    assert error.conversation_id == "y"
    assert str(error) == f"{path}:4: turns[1].speaker: {UNKNOWN_SPEAKER}"


def test_csv_quoted_fields_with_commas_newlines_and_quotes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "chats.csv",
        "conversation_id,speaker,text\n"
        'x,客服,"您好,请问\n有什么可以帮您?"\n'
        "y,经理,hello\n"
        'x,顾客,"他说""不行"",怎么办"\n',
    )
    loaded = load_conversations(path)
    assert [c.id for c in loaded] == ["x"]
    assert [(t.speaker, t.text) for t in loaded[0].turns] == [
        ("agent", "您好,请问\n有什么可以帮您?"),
        ("customer", '他说"不行",怎么办'),
    ]
    # The row after the two-line record is on physical line 4.
    assert str(loaded.errors[0]) == f"{path}:4: turns[0].speaker: {UNKNOWN_SPEAKER}"


def test_csv_times_channel_and_padded_header(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "calls.csv",
        " conversation_id , speaker , text , start , end , channel \n"
        "x,坐席,您好,00:01,00:03.5,call\n"
        "x,来电人,你好,4,6,\n",
    )
    conv = load_one(path)
    assert conv.channel == "call"
    assert [(t.speaker, t.start, t.end) for t in conv.turns] == [("agent", 1.0, 3.5), ("customer", 4.0, 6.0)]
    assert conv.has_end_times


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("x,agent,hi,1,3\nx,customer,yo,5,4\n", "3: turns[1].end: end 4s is before start 5s"),
        (
            "x,agent,hi,2024-05-01 10:00:00,\nx,customer,yo,5,\n",
            "2: turns[0].start: mixes datetimes and second offsets; use one kind",
        ),
        (",agent,hi,,\n", "2: conversation_id: is empty"),
        ("x,agent,,,\n", "2: turns[0].text: String should have at least 1 character"),
    ],
    ids=["end<start", "mixed-times", "empty-id", "empty-text"],
)
def test_csv_row_errors(tmp_path: Path, rows: str, expected: str) -> None:
    path = write(tmp_path, "chats.csv", "conversation_id,speaker,text,start,end\n" + rows)
    assert str(only_error(path)) == f"{path}:{expected}"


def test_csv_bad_channel(tmp_path: Path) -> None:
    path = write(tmp_path, "chats.csv", "conversation_id,speaker,text,channel\nx,agent,hi,email\n")
    assert str(only_error(path)) == f"{path}:2: channel: Input should be 'chat' or 'call' (got 'email')"


# --------------------------------------------------------------------------- plain text


def test_text_with_clock_offsets_is_a_call(tmp_path: Path) -> None:
    path = write(
        tmp_path, "t1.txt", "[00:01:05] 客服：您好,请问有什么可以帮您?\n[00:01:09] 客户:我想查话费\n"
    )
    conv = load_one(path)
    assert conv.id == "t1"
    assert conv.channel == "call"
    assert conv.started_at is None
    assert [(t.speaker, t.text, t.start, t.end) for t in conv.turns] == [
        ("agent", "您好,请问有什么可以帮您?", 65.0, None),
        ("customer", "我想查话费", 69.0, None),
    ]


def test_text_with_datetimes_is_a_chat(tmp_path: Path) -> None:
    path = write(tmp_path, "t2.txt", "2024-05-01 10:00:03 客户:你好,在吗?\n2024-05-01 10:00:11 客服：您好\n")
    conv = load_one(path)
    assert conv.channel == "chat"
    assert conv.started_at == datetime(2024, 5, 1, 10, 0, 3)
    assert [(t.speaker, t.text, t.start) for t in conv.turns] == [
        ("customer", "你好,在吗?", 0.0),
        ("agent", "您好", 8.0),
    ]


def test_text_with_bracketed_aware_datetimes_is_a_chat(tmp_path: Path) -> None:
    path = write(
        tmp_path, "t3.txt", "[2024-05-01T10:00:00+08:00] 客服：您好\n[2024-05-01T10:00:07+08:00] 用户：嗯\n"
    )
    conv = load_one(path)
    assert conv.channel == "chat"
    assert conv.started_at == datetime(2024, 5, 1, 10, 0, tzinfo=CST)
    assert [t.start for t in conv.turns] == [0.0, 7.0]


def test_text_without_prefix(tmp_path: Path) -> None:
    path = write(tmp_path, "t4.txt", "客服：您好\n\nAGENT: hello\n顾客: 你好\n")
    conv = load_one(path)
    assert conv.channel == "chat"
    assert not conv.has_timestamps
    assert [(t.speaker, t.text, t.start) for t in conv.turns] == [
        ("agent", "您好", None),
        ("agent", "hello", None),
        ("customer", "你好", None),
    ]


def test_text_wrapped_line_joins_previous_turn(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t5.txt",
        "[00:00:01] 客服：您好\n[00:00:04] 客户：我想问一下\n  这个月的账单\n为什么这么多\n",
    )
    conv = load_one(path)
    assert [t.text for t in conv.turns] == ["您好", "我想问一下\n这个月的账单\n为什么这么多"]
    assert len(conv.turns) == 2


def test_text_first_line_without_speaker(tmp_path: Path) -> None:
    path = write(tmp_path, "t6.txt", "通话记录\n客服：您好\n")
    error = only_error(path)
    assert error.conversation_id == "t6"
    assert str(error) == (
        f"{path}:1: speaker: line does not start with a known speaker: '通话记录'; "
        "write e.g. '客服：您好' or '[00:01:05] 客户：…'"
    )


def test_text_stamped_line_with_unknown_speaker_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "t7.txt", "[00:00:01] 客服：您好\n[00:00:05] 经理：我来\n")
    assert str(only_error(path)) == (
        f"{path}:2: speaker: line does not start with a known speaker: '[00:00:05] 经理：我来'; "
        "write e.g. '客服：您好' or '[00:01:05] 客户：…'"
    )


def test_text_mixing_offsets_and_datetimes(tmp_path: Path) -> None:
    path = write(tmp_path, "t8.txt", "[00:01:05] 客服：您好\n2024-05-01 10:00:03 客户:你好\n")
    assert (
        str(only_error(path)) == f"{path}:1: turns[0].start: mixes datetimes and second offsets; use one kind"
    )


def test_text_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "t9.txt", "\n  \n")
    assert str(only_error(path)) == f"{path}: turns: no turns found"


@pytest.mark.parametrize(
    ("content", "channel"),
    [
        ("[00:00:01] 客服：您好\n[00:00:05] 客户：好\n", "chat"),
        ("2024-05-01 10:00:03 客服：您好\n2024-05-01 10:00:13 客户：好\n", "call"),
        ("客服：您好\n客户：好\n", "call"),
    ],
)
def test_text_channel_override(tmp_path: Path, content: str, channel: str) -> None:
    conv = load_one(write(tmp_path, "t.txt", content), channel=channel)
    assert conv.channel == channel


def test_channel_override_does_not_touch_jsonl(tmp_path: Path) -> None:
    conv = load_one(write_jsonl(tmp_path, record(channel="chat")), channel="call")
    assert conv.channel == "chat"


# --------------------------------------------------------------------------- encodings

GB_TEXT = "[00:00:01] 客服：您好，请问有什么可以帮您？\n[00:00:05] 客户：我的宽带坏了\n"
GB_HINT = "it looks like GBK/GB18030; convert it (iconv -f GB18030 -t UTF-8) or pass --encoding gb18030"


def test_gb18030_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "gb.txt", GB_TEXT.encode("gb18030"))
    error = only_error(path)
    assert str(error) == f"{path}:1: is not UTF-8 (byte 0xbf); {GB_HINT}"
    assert "is not UTF-8" in str(error) and "GBK/GB18030" in str(error) and "--encoding gb18030" in str(error)


def test_gb18030_error_names_the_first_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path, "gb.txt", "agent: hello\n客户：你好\n".encode("gb18030"))
    assert str(only_error(path)) == f"{path}:2: is not UTF-8 (byte 0xbf); {GB_HINT}"


def test_gb18030_file_loads_with_encoding(tmp_path: Path) -> None:
    conv = load_one(write(tmp_path, "gb.txt", GB_TEXT.encode("gb18030")), encoding="gb18030")
    assert conv.id == "gb"
    assert [(t.speaker, t.text, t.start) for t in conv.turns] == [
        ("agent", "您好，请问有什么可以帮您？", 1.0),
        ("customer", "我的宽带坏了", 5.0),
    ]


def test_gbk_csv_loads_with_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "gbk.csv", "conversation_id,speaker,text\nx,客服,您好\n".encode("gbk"))
    assert "GBK/GB18030" in str(only_error(path))
    conv = load_one(path, encoding="gbk")
    assert (conv.turns[0].speaker, conv.turns[0].text) == ("agent", "您好")


def test_undecodable_file_without_a_guess(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.txt", b"\x80\x80\x80\n")
    assert (
        str(only_error(path))
        == f"{path}:1: is not UTF-8 (byte 0x80); pass --encoding with the file's encoding"
    )


def test_wrong_explicit_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.txt", b"\xff\xfe\xfd\n")
    assert str(only_error(path, encoding="utf-8")) == (
        f"{path}: cannot decode as utf-8: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
    )


def test_unknown_explicit_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "t.txt", "客服：您好\n")
    assert str(only_error(path, encoding="nope")) == f"{path}: cannot decode as nope: unknown encoding: nope"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bom.txt", "客服：您好\n"),
        (
            "bom.jsonl",
            json.dumps(record("bom", turns=[{"speaker": "客服", "text": "您好"}]), ensure_ascii=False) + "\n",
        ),
        ("bom.csv", "conversation_id,speaker,text\nbom,客服,您好\n"),
    ],
)
def test_utf8_bom_loads(tmp_path: Path, name: str, content: str) -> None:
    conv = load_one(write(tmp_path, name, "\ufeff".encode() + content.encode("utf-8")))
    assert conv.id == "bom"
    assert conv.turns == [Turn(speaker="agent", text="您好")]


# --------------------------------------------------------------------------- missing paths, directories


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "none.jsonl"
    with pytest.raises(NotFoundError) as info:
        load_conversations(missing)
    assert str(info.value) == f"conversation file {str(missing)!r} does not exist"
    assert info.value.name == str(missing)


def test_directory_reads_known_suffixes_only(tmp_path: Path) -> None:
    write_jsonl(tmp_path, record("j"), name="a.jsonl")
    write(tmp_path, "b.CSV", "conversation_id,speaker,text\nc,agent,hi\n")
    write(tmp_path, "t.txt", "客服：您好\n")
    write(tmp_path, "README.md", "# not a conversation\n")
    write(tmp_path, "notes", "客服：您好\n")
    assert [c.id for c in load_conversations(tmp_path)] == ["j", "c", "t"]


# --------------------------------------------------------------------------- properties


def make(turns: list[Turn], notes: str | None = None) -> Conversation:
    return Conversation(id="p", turns=turns, notes=notes)


@pytest.mark.parametrize(
    ("turns", "has_timestamps", "has_end_times"),
    [
        ([Turn(speaker="agent", text="a"), Turn(speaker="customer", text="b")], False, False),
        ([Turn(speaker="agent", text="a", start=0.0), Turn(speaker="customer", text="b")], False, False),
        (
            [Turn(speaker="agent", text="a", start=0.0), Turn(speaker="customer", text="b", start=2.0)],
            True,
            False,
        ),
        (
            [
                Turn(speaker="agent", text="a", start=0.0, end=1.0),
                Turn(speaker="customer", text="b", start=2.0),
            ],
            True,
            False,
        ),
        ([Turn(speaker="agent", text="a", end=1.0)], False, False),
        (
            [
                Turn(speaker="agent", text="a", start=0.0, end=1.0),
                Turn(speaker="customer", text="b", start=2.0, end=3.0),
            ],
            True,
            True,
        ),
    ],
    ids=["none", "some-starts", "all-starts", "some-ends", "end-without-start", "all"],
)
def test_timestamp_properties(turns: list[Turn], has_timestamps: bool, has_end_times: bool) -> None:
    conv = make(turns)
    assert conv.has_timestamps is has_timestamps
    assert conv.has_end_times is has_end_times


@pytest.mark.parametrize(
    ("notes", "expected"),
    [(None, False), ("", False), ("  \n ", False), ("已派单", True)],
)
def test_has_notes(notes: str | None, expected: bool) -> None:
    assert make([Turn(speaker="agent", text="a")], notes=notes).has_notes is expected


def test_models_are_frozen() -> None:
    conv = make([Turn(speaker="agent", text="a")])
    with pytest.raises(Exception, match="frozen"):
        conv.id = "q"  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        conv.turns[0].text = "b"  # type: ignore[misc]


def test_text_unstamped_line_with_unknown_short_speaker_is_an_error_not_merged(tmp_path: Path) -> None:
    path = write(tmp_path, "t9.txt", "客服：您好\n经理：我来处理\n")
    assert str(only_error(path)) == (
        f"{path}:2: speaker: line does not start with a known speaker: '经理：我来处理'; "
        "write e.g. '客服：您好' or '[00:01:05] 客户：…'"
    )


@pytest.mark.parametrize("value", ["nan", "inf", float("nan"), float("inf")])
def test_non_finite_times_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="is not a finite number"):
        parse_time(value)
