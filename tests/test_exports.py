"""Inputs as exported: OpenAI-style turns, Chinese column headers, unknown columns
kept as metadata, and ``.xlsx`` workbooks."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, time
from pathlib import Path

import pytest

from llm_grader.conversation import conversations_from_table, load_conversations

ROOT = Path(__file__).resolve().parent.parent

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


# --------------------------------------------------------------------------- .xlsx workbooks


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


EXPORT = [
    ["会话ID", "坐席工号", "角色", "内容", "开始时间", "渠道"],
    [1001, "A07", "客户", "在吗", datetime(2024, 5, 1, 10, 0, 3), "chat"],
    [1001, "A07", "客服", "您好，很高兴为您服务", datetime(2024, 5, 1, 10, 0, 11), "chat"],
    [],
    [1002, "B11", "用户", "我的宽带断了", time(0, 0, 2), "call"],
    [1002, "B11", "坐席", "我帮您查一下", time(0, 1, 5), "call"],
]


def test_an_xlsx_export_reads_like_the_csv_file(tmp_path: Path) -> None:
    path = workbook(tmp_path / "export.xlsx", {"会话": EXPORT, "说明": [["not", "turns"]]})
    loaded = load_conversations(path)
    assert loaded.errors == [] and loaded.warnings == []
    chat, call = loaded
    assert (chat.id, chat.channel, chat.metadata) == ("1001", "chat", {"agent_id": "A07"})
    assert [(t.speaker, t.start) for t in chat.turns] == [("customer", 0.0), ("agent", 8.0)]
    assert chat.started_at == datetime(2024, 5, 1, 10, 0, 3)
    assert [(t.speaker, t.text, t.start) for t in call.turns] == [
        ("customer", "我的宽带断了", 2.0), ("agent", "我帮您查一下", 65.0)]
    csv_path = tmp_path / "export.csv"
    csv_path.write_text(
        "会话ID,坐席工号,角色,内容,开始时间,渠道\n"
        "1001,A07,客户,在吗,2024-05-01T10:00:03,chat\n1001,A07,客服,您好，很高兴为您服务,2024-05-01T10:00:11,chat\n"
        "1002,B11,用户,我的宽带断了,00:00:02,call\n1002,B11,坐席,我帮您查一下,00:01:05,call\n",
        encoding="utf-8",
    )
    assert [c.model_dump() for c in loaded] == [c.model_dump() for c in load_conversations(csv_path)]


def test_another_sheet_by_name_and_a_sheet_that_is_not_there(tmp_path: Path) -> None:
    rows = [["conversation_id", "speaker", "text"], ["x", "agent", "您好"]]
    path = workbook(tmp_path / "book.xlsx", {"封面": [["说明"]], "turns": rows})
    (conversation,) = load_conversations(path, sheet="turns")
    assert conversation.id == "x"
    (error,) = load_conversations(path, sheet="会话").errors
    assert str(error) == f"{path}: has no sheet '会话'; its sheets: '封面', 'turns'"
    (error,) = load_conversations(path).errors  # the first sheet has no turn columns
    assert str(error).startswith(f"{path}: sheet '封面' row 1: columns lack 'conversation_id', 'speaker', 'text'")


def test_xlsx_errors_name_file_sheet_row_and_column(tmp_path: Path) -> None:
    rows = [["会话ID", "角色", "内容", "开始时间"], ["c1", "客服", "您好", 0], [], ["c1", "老板", "嗯", "later"]]
    path = workbook(tmp_path / "bad.xlsx", {"会话": rows})
    (error,) = load_conversations(path).errors
    assert [str(p) for p in error.problems] == [
        f"{path}: sheet '会话' row 4, column B (角色): unknown speaker '老板'; use agent/customer/system or an "
        "alias such as 客服, 坐席, 客服代表, 工作人员, staff, 客户, 用户, 顾客, user",
        f"{path}: sheet '会话' row 4, column D (开始时间): time 'later' is not seconds, mm:ss, hh:mm:ss or an "
        "ISO-8601 datetime",
    ]


def test_a_file_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"conversation_id,speaker,text\n")
    (error,) = load_conversations(path).errors
    assert str(error).startswith(f"{path}: cannot be read as an .xlsx workbook")


def test_xlsx_without_openpyxl_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = workbook(tmp_path / "export.xlsx", {"会话": EXPORT})
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl raises ImportError
    (error,) = load_conversations(path).errors
    assert str(error) == (
        f"{path}: reading .xlsx workbooks needs openpyxl: pip install 'llm-grader[xlsx]' (or save the sheet as CSV)"
    )


def test_grade_reads_an_xlsx_export(tmp_path: Path) -> None:
    path = workbook(tmp_path / "export.xlsx", {"会话": EXPORT})
    out = tmp_path / "cards.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "llm_grader", "grade", str(path), "-r", "service_quality_scoring", "--rules-only",
         "-o", str(out)],
        capture_output=True, text=True, encoding="utf-8", timeout=120, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    cards = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [c["conversation_id"] for c in cards] == ["1001", "1002"]
    assert cards[0]["metadata"]["agent_id"] == "A07"


def test_grade_sheet_option(tmp_path: Path) -> None:
    path = workbook(tmp_path / "export.xlsx", {"封面": [["说明"]], "会话": EXPORT})
    out = tmp_path / "cards.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "llm_grader", "grade", str(path), "-r", "service_quality_scoring", "--rules-only",
         "--sheet", "会话", "-o", str(out)],
        capture_output=True, text=True, encoding="utf-8", timeout=120, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_a_header_repeated_behind_a_byte_order_mark_is_a_clean_error(tmp_path: Path) -> None:
    # Found by eval/bench_fuzz.py: the second header differs from the first only by a BOM.
    path = tmp_path / "x.csv"
    path.write_bytes("conversation_id,speaker,text,\ufeffconversation_id\nc1,客服,您好,c1\n".encode())
    batch = load_conversations(path)
    assert len(batch) == 0
    assert [str(e) for e in batch.errors] == [
        f"{path}: columns 'conversation_id' and 'conversation_id' both give conversation_id; keep one"
    ]
