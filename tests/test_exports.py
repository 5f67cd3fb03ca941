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
