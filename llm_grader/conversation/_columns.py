"""Column names of turn tables (CSV, ``.xlsx``, DataFrames): aliases and columns kept as metadata.

Exports from contact-center systems name their columns in Chinese (``会话ID, 角色, 内容,
开始时间``...) or in the OpenAI style (``role, content``). :func:`column_name` reads each header
as the column it stands for, as speaker names are read by their aliases; a header that is
neither a known column nor an alias is kept as metadata (``agent_id`` → ``metadata.agent_id``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

TURN_COLUMNS = (
    "conversation_id",
    "speaker",
    "text",
    "start",
    "end",
    "channel",
    "notes",
    "knowledge",
    "started_at",
    "metadata",
)
"""The columns of a table with one row per turn; ``metadata.<key>`` columns besides."""

_ALIASES: dict[str, tuple[str, ...]] = {
    "conversation_id": (
        "会话id",
        "会话编号",
        "会话号",
        "对话id",
        "对话编号",
        "通话id",
        "通话编号",
        "session_id",
        "dialog_id",
        "dialogue_id",
        "chat_id",
        "call_id",
    ),
    "speaker": ("角色", "说话人", "发言人", "发言方", "说话方", "讲话人", "发送方", "发送者", "身份", "role"),
    "text": (
        "内容",
        "文本",
        "消息",
        "消息内容",
        "对话内容",
        "发言内容",
        "聊天内容",
        "文字",
        "content",
        "message",
    ),
    "start": ("开始时间", "时间", "发送时间", "消息时间", "起始时间", "start_time", "timestamp"),
    "end": ("结束时间", "end_time"),
    "channel": ("渠道", "会话渠道"),
    "notes": ("备注", "工单记录", "服务小记", "服务记录"),
    "knowledge": ("参考知识", "知识库"),
    "metadata.agent_id": ("坐席工号", "客服工号", "工号", "坐席id", "客服id", "坐席编号", "客服编号"),
    "metadata.agent_name": ("坐席姓名", "客服姓名", "坐席名称"),
    "metadata.team": ("班组", "团队", "组别", "小组", "技能组"),
    "metadata.date": ("日期", "会话日期"),
}

COLUMN_ALIASES: dict[str, str] = {
    alias.lower(): column for column, aliases in _ALIASES.items() for alias in aliases
}
"""Lower-cased column headers accepted in turn tables, mapped to the columns they stand for."""

_SKIPPED = re.compile(r"^(?:__index_level_\d+__|Unnamed: \d+)$")
"""Index columns pandas writes (``df.to_csv()`` with its index, ``to_parquet``): not data."""


@dataclass(frozen=True)
class Column:
    """What one header of a turn table stands for."""

    header: str
    """The header as written (stripped)."""
    name: str
    """The column it stands for: one of :data:`TURN_COLUMNS` or ``metadata.<key>``; ``""`` to skip."""
    loose: bool
    """A metadata column named by an alias or not known at all: its value may change from turn
    to turn (see :func:`loose_value`); an explicit ``metadata.<key>`` column may not."""


def column_name(header: object) -> Column:
    """The column a header stands for: itself, the column of its alias, or metadata.

    Headers are matched case-insensitively and stripped; a blank header and pandas' index
    columns are skipped (``name`` is ``""``).
    """
    text = str(header).strip().lstrip("\ufeff").strip() if header is not None else ""
    lowered = text.lower()
    if not text or _SKIPPED.match(text):
        return Column(text, "", loose=True)
    if lowered in TURN_COLUMNS:
        return Column(text, lowered, loose=False)
    if lowered.startswith("metadata.") and len(text) > len("metadata."):
        return Column(text, "metadata." + text[len("metadata.") :], loose=False)
    if lowered in COLUMN_ALIASES:
        name = COLUMN_ALIASES[lowered]
        return Column(text, name, loose=name.startswith("metadata."))
    return Column(text, f"metadata.{text}", loose=True)


def resolve_header(headers: Sequence[object]) -> tuple[list[Column], list[str]]:
    """Each header's column, and a message for each column given by two headers."""
    columns = [column_name(h) for h in headers]
    first: dict[str, str] = {}
    problems: list[str] = []
    for column in columns:
        if not column.name:
            continue
        if column.name in first:
            problems.append(
                f"columns {first[column.name]!r} and {column.header!r} both give {column.name}; keep one"
            )
        else:
            first[column.name] = column.header
    return columns, problems


def loose_value(values: Iterable[Any]) -> Any:
    """A metadata value from a column's cells over the turns of a conversation.

    The one value when every cell that is not empty holds it (``agent_id`` repeated on each
    turn, or given on one); otherwise the list of every turn's cell (None where empty), so
    that a value changing within a conversation (an agent after a transfer) is kept.
    Returns None when every cell is empty.
    """
    cells = list(values)
    given = [v for v in cells if v is not None and v != ""]
    if not given:
        return None
    if all(v == given[0] for v in given):
        return given[0]
    return [None if v == "" else v for v in cells]
