"""The conversation readers: JSONL, CSV and plain text, one file or a directory.

``.jsonl`` holds one conversation per line, ``.csv`` one turn per row and any other file is
plain text with one turn per line. Each reader turns its input into records and builds them
with :func:`~.build.conversation_from_record`, so every error names the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConversationError, NotFoundError, Problem
from .build import conversation_from_record, resolve_speaker
from .model import Channel, Conversation, Conversations, Speaker

__all__ = ["iter_conversations", "load_conversations"]


def _read_text(path: Path, encoding: str | None) -> str:
    data = path.read_bytes()
    if encoding:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ConversationError(
                [Problem(file=str(path), line=None, field="", message=f"cannot decode as {encoding}: {exc}")]
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        try:
            data.decode("gb18030")
            hint = (
                "it looks like GBK/GB18030; convert it (iconv -f GB18030 -t UTF-8) or pass --encoding gb18030"
            )
        except UnicodeDecodeError:
            hint = "pass --encoding with the file's encoding"
        raise ConversationError.at(
            str(path), line, "", f"is not UTF-8 (byte 0x{data[exc.start]:02x}); {hint}"
        ) from None


def _iter_jsonl(path: Path, text: str) -> Iterator[Conversation | ConversationError]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield ConversationError.at(str(path), number, "", f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield ConversationError.at(
                str(path), number, "", f"expected a JSON object per line, got {type(data).__name__}"
            )
            continue
        try:
            yield conversation_from_record(data, file=str(path), line=number)
        except ConversationError as exc:
            yield exc


_CSV_COLUMNS = ("conversation_id", "speaker", "text")


def _iter_csv(path: Path, text: str) -> Iterator[Conversation | ConversationError]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in _CSV_COLUMNS if c not in header]
    if missing:
        yield ConversationError.at(
            str(path),
            1,
            "",
            (
                f"CSV header lacks {', '.join(map(repr, missing))}; expected "
                "conversation_id,speaker,text[,start,end][,channel]"
            ),
        )
        return
    reader.fieldnames = header
    groups: dict[str, dict[str, Any]] = {}
    for row in reader:
        line = reader.line_num
        conv_id = (row.get("conversation_id") or "").strip()
        if not conv_id:
            yield ConversationError(
                [Problem(file=str(path), line=line, field="conversation_id", message="is empty")]
            )
            continue
        group = groups.setdefault(conv_id, {"id": conv_id, "turns": [], "lines": [], "first": line})
        if row.get("channel"):
            group["channel"] = row["channel"].strip()
        group["turns"].append(
            {
                "speaker": row.get("speaker"),
                "text": row.get("text") or "",
                "start": row.get("start") or None,
                "end": row.get("end") or None,
            }
        )
        group["lines"].append(line)
    for group in groups.values():
        lines, first = group.pop("lines"), group.pop("first")
        try:
            yield conversation_from_record(group, file=str(path), turn_lines=lines, line=first)
        except ConversationError as exc:
            yield exc


_TEXT_LINE = re.compile(
    r"^\s*(?:\[(?P<bracket>[^\]]+)\]\s*|(?P<stamp>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"
    r"(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+)?(?P<speaker>[^:：\s][^:：]{0,15}?)\s*[:：]\s*(?P<text>.*)$"
)


def _guess_channel(turns: list[dict[str, Any]]) -> Channel:
    """``call`` when the turns carry clock offsets, ``chat`` when datetimes or no times."""
    stamps = [t["start"] for t in turns if t["start"]]
    return "chat" if any("-" in s for s in stamps) or not stamps else "call"


def _iter_text(path: Path, text: str, channel: Channel | None) -> Iterator[Conversation | ConversationError]:
    turns: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        match = _TEXT_LINE.match(raw)
        speaker: Speaker | None = None
        if match:
            try:
                speaker = resolve_speaker(match["speaker"])
            except ValueError:
                speaker = None
        if match is None or speaker is None:
            # A wrapped line continues the turn; a short "name：" prefix is a speaker we do
            # not know, and is reported rather than merged into the previous turn.
            looks_like_speaker = match is not None and len(match["speaker"].strip()) <= 6
            if turns and not looks_like_speaker:
                turns[-1]["text"] += "\n" + raw.strip()
                continue
            problems.append(
                Problem(
                    file=str(path),
                    line=number,
                    field="speaker",
                    message=(
                        f"line does not start with a known speaker: {raw.strip()[:40]!r}; "
                        "write e.g. '客服：您好' or '[00:01:05] 客户：…'"
                    ),
                )
            )
            continue
        turns.append(
            {"speaker": speaker, "text": match["text"].strip(), "start": match["bracket"] or match["stamp"]}
        )
        lines.append(number)
    if problems:
        yield ConversationError(problems, conversation_id=path.stem)
        return
    if not turns:
        yield ConversationError([Problem(file=str(path), line=None, field="turns", message="no turns found")])
        return
    data: dict[str, Any] = {"id": path.stem, "turns": turns, "channel": channel or _guess_channel(turns)}
    try:
        yield conversation_from_record(data, file=str(path), turn_lines=lines, line=lines[0])
    except ConversationError as exc:
        yield exc


_SUFFIXES = (".jsonl", ".csv", ".txt")


def _files(source: Path) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix.lower() in _SUFFIXES)
    if not source.exists():
        raise NotFoundError(f"conversation file {str(source)!r} does not exist", name=str(source))
    return [source]


def iter_conversations(
    source: str | Path, *, encoding: str | None = None, channel: Channel | None = None
) -> Iterator[Conversation | ConversationError]:
    """Yield each conversation in a file or directory, or the error that stopped it.

    ``.jsonl`` holds one conversation per line, ``.csv`` one turn per row, and any other file
    is plain text with one turn per line (the file name is the id). ``channel`` sets the
    channel of plain-text conversations (default: ``call`` when turns carry clock offsets).
    """
    for path in _files(Path(source)):
        try:
            text = _read_text(path, encoding)
        except ConversationError as exc:
            yield exc
            continue
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            yield from _iter_jsonl(path, text)
        elif suffix == ".csv":
            yield from _iter_csv(path, text)
        else:
            yield from _iter_text(path, text, channel)


def load_conversations(
    *sources: str | Path,
    encoding: str | None = None,
    channel: Channel | None = None,
    strict: bool = False,
) -> Conversations:
    """Load conversations from files or directories.

    A malformed conversation is skipped and its error kept in ``result.errors``; the rest
    load. With ``strict=True`` the first error is raised instead. Duplicate ids are errors.
    """
    loaded = Conversations()
    seen: dict[str, tuple[str, int] | None] = {}
    for source in sources:
        for item in iter_conversations(source, encoding=encoding, channel=channel):
            if isinstance(item, Conversation) and item.id in seen:
                file, line = item._source or (str(source), None)
                first = seen[item.id]
                where = f" (first at {first[0]}:{first[1]})" if first else ""
                item = ConversationError(
                    [
                        Problem(
                            file=file,
                            line=line,
                            field="id",
                            message=f"duplicate conversation id {item.id!r}{where}",
                        )
                    ],
                    conversation_id=item.id,
                )
            if isinstance(item, ConversationError):
                if strict:
                    raise item
                loaded.errors.append(item)
                continue
            seen[item.id] = item._source
            loaded.append(item)
    return loaded
