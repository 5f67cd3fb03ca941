"""Inputs as exported (issue 19.6): OpenAI-style turns, Chinese column headers, unknown columns
kept as metadata, and ``.xlsx`` workbooks."""

from __future__ import annotations

import json
from pathlib import Path

from llm_grader.conversation import conversations_from_table, load_conversations

# --------------------------------------------------------------------------- OpenAI-style turns


def test_openai_messages_in_a_jsonl_file(tmp_path: Path) -> None:
    records = [
        {"id": "o1", "messages": [
            {"role": "system", "content": "订单助手"},
            {"role": "user", "content": "在吗"},
            {"role": "assistant", "content": [{"type": "text", "text": "您好"}, {"type": "text", "text": "请讲"}]},
        ]},
        {"id": "o2", "turns": [{"role": "user", "content": "退款", "start": 0}, {"speaker": "客服", "text": "好的"}]},
    ]
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    loaded = load_conversations(path)
    assert loaded.errors == []
    first, second = loaded
    assert [(t.speaker, t.text) for t in first.turns] == [
        ("system", "订单助手"), ("customer", "在吗"), ("agent", "您好\n请讲")]
    assert [(t.speaker, t.text, t.start) for t in second.turns] == [("customer", "退款", 0.0), ("agent", "好的", None)]


def test_an_openai_role_we_do_not_grade_is_named(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps({"id": "t", "messages": [{"role": "tool", "content": "{}"}]}) + "\n", encoding="utf-8")
    (error,) = load_conversations(path).errors
    assert str(error).startswith(f"{path}:1: turns[0].speaker: unknown speaker 'tool'")


def test_openai_messages_in_tables() -> None:
    per_conversation = [{"id": 1, "messages": [{"role": "user", "content": "在吗"}, {"role": "assistant", "content": "在的"}]}]
    (conversation,) = conversations_from_table(per_conversation)
    assert [t.speaker for t in conversation.turns] == ["customer", "agent"]
    per_turn = [
        {"conversation_id": "a", "role": "user", "content": "在吗"},
        {"conversation_id": "a", "role": "assistant", "content": "在的"},
    ]
    (conversation,) = conversations_from_table(per_turn)
    assert [(t.speaker, t.text) for t in conversation.turns] == [("customer", "在吗"), ("agent", "在的")]


# --------------------------------------------------------------------------- column headers and metadata

CHINESE_CSV = (
    "会话ID,坐席工号,班组,日期,角色,内容,开始时间,结束时间,渠道,满意度\n"
    "c1,A07,二组,2024-05-01,客户,我的宽带断了,0,3.5,call,满意\n"
    "c1,A07,二组,2024-05-01,客服,您好，我帮您查一下,4,9,call,\n"
    "c2,B11,一组,2024-05-02,用户,在吗,,,chat,不满意\n"
)


def test_chinese_headers_in_a_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(CHINESE_CSV, encoding="utf-8")
    loaded = load_conversations(path)
    assert loaded.errors == []
    first, second = loaded
    assert (first.id, first.channel, second.channel) == ("c1", "call", "chat")
    assert [(t.speaker, t.text, t.start, t.end) for t in first.turns] == [
        ("customer", "我的宽带断了", 0.0, 3.5), ("agent", "您好，我帮您查一下", 4.0, 9.0)]
    # Aliased and unknown columns are metadata; a cell given on one turn only is the value.
    assert first.metadata == {"agent_id": "A07", "team": "二组", "date": "2024-05-01", "满意度": "满意"}
    assert second.metadata == {"agent_id": "B11", "team": "一组", "date": "2024-05-02", "满意度": "不满意"}


def test_plain_columns_are_kept_as_metadata_in_csv_and_tables(tmp_path: Path) -> None:
    rows = [
        {"conversation_id": "x", "agent_id": "A1", "team": "T", "date": "2024-06-03", "speaker": "agent", "text": "您好"},
        {"conversation_id": "x", "agent_id": "A2", "team": "T", "date": "2024-06-03", "speaker": "customer", "text": "嗯"},
    ]
    (from_table,) = conversations_from_table(rows)
    path = tmp_path / "x.csv"
    path.write_text(
        "conversation_id,agent_id,team,date,speaker,text\n" + "".join(",".join(r.values()) + "\n" for r in rows),
        encoding="utf-8",
    )
    (from_csv,) = load_conversations(path)
    # An agent who changes within the conversation (a transfer) is kept turn by turn.
    expected = {"agent_id": ["A1", "A2"], "team": "T", "date": "2024-06-03"}
    assert from_table.metadata == expected and from_csv.metadata == expected


def test_a_column_given_twice_is_named(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("会话ID,conversation_id,角色,内容\nc1,c1,客服,您好\n", encoding="utf-8")
    (error,) = load_conversations(path).errors
    assert str(error) == f"{path}: columns '会话ID' and 'conversation_id' both give conversation_id; keep one"
    (error,) = conversations_from_table([{"说话人": "客服", "角色": "客服", "会话ID": "c", "内容": "您好"}]).errors
    assert str(error) == "<list>: columns '说话人' and '角色' both give speaker; keep one"


def test_chinese_headers_with_a_bad_cell_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("会话ID,角色,内容\nc1,客服,您好\nc1,老板,嗯\n", encoding="utf-8")
    (error,) = load_conversations(path).errors
    assert str(error).startswith(f"{path}:3: turns[1].speaker: unknown speaker '老板'")
