"""One entry point for every source of conversations: files, folders, tables and ASR results.

:func:`load_conversations` takes any mix of paths (JSONL, CSV, text, vendor ASR ``.json``,
or folders of them), pandas DataFrames, ``datasets.Dataset`` objects and lists of dicts. Times
in JSONL, CSV and text files are seconds unless ``time_unit="ms"`` says milliseconds (the
ASR vendors' convention); with no unit given, a conversation whose times look like
milliseconds read as seconds is loaded as it is and a warning says so (``result.warnings``).
ASR results carry their vendor's unit and are never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from ..errors import ConversationError, Problem
from ._frames import conversations_from_table
from ._readers import iter_conversations, not_found
from ._turns import Channel, Conversation, Conversations
from .asr import VENDORS, implausible_seconds, read_asr

FORMATS = ("auto", "jsonl", "csv", "xlsx", "text", *VENDORS)
"""``auto`` (by file suffix; ``.json`` is a vendor ASR result, vendor detected), a file format,
or an ASR vendor's name."""

_SUFFIX = {"jsonl": ".jsonl", "csv": ".csv", "xlsx": ".xlsx", "text": ".txt"}


def _scaled(conversation: Conversation, factor: float) -> Conversation:
    turns = [
        t.model_copy(
            update={
                "start": None if t.start is None else t.start * factor,
                "end": None if t.end is None else t.end * factor,
            }
        )
        for t in conversation.turns
    ]
    return conversation.model_copy(update={"turns": turns})


def _asr_files(source: Path, file_format: str) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.suffix.lower() == ".json" and p.is_file())
    is_asr = file_format in VENDORS or (file_format == "auto" and source.suffix.lower() == ".json")
    return [source] if is_asr else []


def _iter_asr(paths: list[Path], vendor: str | None, channel_map: Mapping[Any, Any] | None) -> Iterator[Any]:
    for path in paths:
        try:
            yield read_asr(path, vendor=vendor, channel_map=channel_map)
        except ConversationError as exc:
            yield exc
        except ValueError as exc:  # an unknown vendor or a malformed channel map
            yield ConversationError.at(str(path), None, "", str(exc))


def _iter_source(source: Any, options: dict[str, Any]) -> Iterator[Conversation | ConversationError]:
    if not isinstance(source, (str, Path)):
        table = conversations_from_table(source)
        yield from table.errors
        yield from table
        return
    path, file_format = Path(source), options["format"]
    asr = _asr_files(path, file_format) if path.exists() else []
    vendor = file_format if file_format in VENDORS else None
    yield from _iter_asr(asr, vendor, options["channel_map"])
    if asr and not path.is_dir():
        return
    if file_format in _SUFFIX and path.is_file() and path.suffix.lower() != _SUFFIX[file_format]:
        yield ConversationError.at(
            str(path), None, "", f"--format {file_format} expects a {_SUFFIX[file_format]} file"
        )
        return
    stream = iter_conversations(
        path, encoding=options["encoding"], channel=options["channel"], sheet=options["sheet"]
    )
    for item in stream:
        if isinstance(item, Conversation) and options["time_unit"] == "ms":
            item = _scaled(item, 0.001)
        yield item


def _duplicate(item: Conversation, first: tuple[str, int] | None, source: str) -> ConversationError:
    file, line = item._source or (source, None)
    where = f" (first at {first[0]}:{first[1]})" if first else ""
    problem = Problem(
        file=file, line=line, field="id", message=f"duplicate conversation id {item.id!r}{where}"
    )
    return ConversationError([problem], conversation_id=item.id)


def _check_sources(sources: tuple[Any, ...], file_format: str) -> None:
    """Refuse an unknown format or a missing path before anything is read."""
    if file_format not in FORMATS:
        raise ValueError(f"unknown format {file_format!r}; valid formats: {', '.join(FORMATS)}")
    for source in sources:
        if isinstance(source, (str, Path)) and not Path(source).exists():
            raise not_found(source)


def stream_conversations(
    *sources: str | Path | Iterable[Mapping[str, Any]] | Any,
    encoding: str | None = None,
    channel: Channel | None = None,
    format: str = "auto",
    channel_map: Mapping[Any, Any] | None = None,
    time_unit: Literal["s", "ms"] | None = None,
    on_warning: Callable[[str], None] | None = None,
    sheet: str | None = None,
) -> Iterator[Conversation | ConversationError]:
    """Each conversation of the sources, or the error that stopped it, read as it is asked for.

    The options are those of :func:`load_conversations`, which collects this stream. JSONL
    files are read a line at a time and nothing is kept but the ids seen (duplicates are
    errors), so memory stays flat in the number of conversations. An unknown format or a
    missing path is refused at once, before anything is read; a warning goes to ``on_warning``.
    """
    _check_sources(sources, format)
    options = {
        "encoding": encoding,
        "channel": channel,
        "format": format,
        "channel_map": channel_map,
        "time_unit": time_unit,
        "sheet": sheet,
    }
    return _stream(sources, options, on_warning)


def _stream(
    sources: tuple[Any, ...], options: dict[str, Any], on_warning: Callable[[str], None] | None
) -> Iterator[Conversation | ConversationError]:
    seen: dict[str, tuple[str, int] | None] = {}
    for source in sources:
        for item in _iter_source(source, options):
            if isinstance(item, Conversation) and item.id in seen:
                item = _duplicate(item, seen[item.id], str(source))
            if isinstance(item, Conversation):
                seen[item.id] = item._source
                guess = options["time_unit"] is None and "asr_vendor" not in item.metadata
                warning = implausible_seconds(item) if guess else None
                if warning and on_warning:
                    file, line = item._source or (str(source), None)
                    on_warning(f"{file}:{line}: {warning}" if line else f"{file}: {warning}")
            yield item


def load_conversations(
    *sources: str | Path | Iterable[Mapping[str, Any]] | Any,
    encoding: str | None = None,
    channel: Channel | None = None,
    strict: bool = False,
    format: str = "auto",
    channel_map: Mapping[Any, Any] | None = None,
    time_unit: Literal["s", "ms"] | None = None,
    sheet: str | None = None,
) -> Conversations:
    """Load conversations from files, folders, tables or ASR results.

    A malformed conversation is skipped and its error kept in ``result.errors``; the rest
    load. With ``strict=True`` the first error is raised instead. Duplicate ids are errors.
    ``channel`` sets the channel of plain-text conversations; ``format`` and
    ``channel_map`` choose how ASR ``.json`` results are read (see :data:`FORMATS`);
    ``time_unit`` says whether JSONL/CSV/text times are seconds or milliseconds; ``sheet``
    names the sheet of ``.xlsx`` workbooks to read (default: the first). To read
    without holding them all, iterate :func:`stream_conversations` instead.
    """
    loaded = Conversations()
    stream = stream_conversations(
        *sources,
        encoding=encoding,
        channel=channel,
        format=format,
        channel_map=channel_map,
        time_unit=time_unit,
        on_warning=loaded.warnings.append,
        sheet=sheet,
    )
    for item in stream:
        if isinstance(item, ConversationError):
            if strict:
                raise item
            loaded.errors.append(item)
        else:
            loaded.append(item)
    return loaded
