r"""Conversation files as text: decoded whole (CSV, plain text) or a line at a time (JSONL).

Without an encoding, a file is UTF-8 (a byte-order mark dropped), or UTF-16/32 when it starts
with their byte-order mark; one that does not decode is refused whole, with the line of the
first bad byte and a GB18030 hint when it looks like one. :func:`checked_encoding` makes the
same check a chunk at a time, so a JSONL file of any size is read with flat memory by
:func:`stream_lines`. Lines are split at ``\n`` only (``\r\n`` too).
"""

from __future__ import annotations

import codecs
import io
import itertools
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConversationError
from ._limits import LIMITS

_UNICODE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
"""Byte-order marks that say a file is UTF-16/32 (UTF-32 first: its LE mark starts with UTF-16's)."""

_CHUNK = 1 << 20
"""Bytes read at a time; also the sample that decides the GB18030 hint."""


def _decode(path: Path, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except (UnicodeError, LookupError, ValueError) as exc:
        raise ConversationError.at(str(path), None, "", f"cannot decode as {encoding}: {exc}") from None


def _not_utf8(path: Path, sample: bytes, byte: int, line: int) -> ConversationError:
    """The not-UTF-8 error, with a GB18030 hint when the start of the file decodes as one."""
    try:  # a sample will do, and an incomplete character at its end is no error
        codecs.getincrementaldecoder("gb18030")().decode(sample[:_CHUNK], final=len(sample) <= _CHUNK)
        hint = "it looks like GBK/GB18030; convert it (iconv -f GB18030 -t UTF-8) or pass --encoding gb18030"
    except UnicodeDecodeError:
        hint = "pass --encoding with the file's encoding"
    return ConversationError.at(str(path), line, "", f"is not UTF-8 (byte 0x{byte:02x}); {hint}")


def read_text(path: Path, encoding: str | None) -> str:
    """The file's text (a leading byte-order mark dropped), or a ConversationError saying why not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConversationError.at(str(path), None, "", f"cannot be read: {exc.strerror or exc}") from None
    if encoding:
        return _decode(path, data, encoding).removeprefix("\ufeff")
    bom = next((name for mark, name in _UNICODE_BOMS if data.startswith(mark)), None)
    if bom:
        return _decode(path, data, bom).removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _not_utf8(path, data[: _CHUNK + 1], data[exc.start], line) from None


def split_lines(text: str) -> list[str]:
    r"""The text's lines, split at ``\n`` only, each without its ``\n`` or ``\r\n``."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _codec_message(exc: ValueError, shift: int) -> str:
    """``exc`` as the codec says it, with positions counted from the start of the file."""
    if not isinstance(exc, UnicodeDecodeError):
        return str(exc)
    start, end = exc.start + shift, exc.end + shift
    if exc.end - exc.start == 1:
        what = f"byte 0x{exc.object[exc.start]:02x} in position {start}"
    else:
        what = f"bytes in position {start}-{end - 1}"
    return f"'{exc.encoding}' codec can't decode {what}: {exc.reason}"


def checked_encoding(path: Path, encoding: str | None) -> str:
    """The encoding the whole file decodes with, checked a chunk at a time (memory stays flat).

    The errors are those of :func:`read_text`: a file that does not decode is refused whole,
    before any of its lines is read. ``OSError`` when the file cannot be read.
    """
    file = str(path)
    with path.open("rb") as f:
        head = f.read(4)
        bom = next((name for mark, name in _UNICODE_BOMS if head.startswith(mark)), None)
        name = encoding or bom or "utf-8-sig"
        try:
            decoder = codecs.getincrementaldecoder(name)()
        except LookupError as exc:
            raise ConversationError.at(file, None, "", f"cannot decode as {name}: {exc}") from None
        f.seek(0)
        offset = newlines = 0
        while True:
            chunk = f.read(_CHUNK)
            pending = bytes(decoder.getstate()[0])  # a character cut by the previous chunk
            try:
                decoder.decode(chunk, final=not chunk)
            except ValueError as exc:  # UnicodeDecodeError, or a codec's own complaint
                if name != "utf-8-sig" or not isinstance(exc, UnicodeDecodeError):
                    message = f"cannot decode as {name}: {_codec_message(exc, offset - len(pending))}"
                    raise ConversationError.at(file, None, "", message) from None
                line = newlines + exc.object[len(pending) : exc.start].count(b"\n") + 1
                f.seek(0)
                raise _not_utf8(path, f.read(_CHUNK + 1), exc.object[exc.start], line) from None
            if not chunk:
                return name
            offset += len(chunk)
            newlines += chunk.count(b"\n")


def stream_lines(path: Path, encoding: str) -> Iterator[tuple[int, str | int]]:
    r"""``(number, line)`` for each line, split at ``\n`` only, without its ``\n`` or ``\r\n``.

    ``encoding`` comes from :func:`checked_encoding`. A line longer than
    ``LIMITS.max_record_chars`` is read past, never held: ``(number, its length)``.
    """
    limit = LIMITS.max_record_chars
    with path.open("rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="\n") as f:
        for number in itertools.count(1):
            line = f.readline(limit + 3)
            if not line:
                return
            if number == 1:
                line = line.removeprefix("\ufeff")
            if line.endswith("\n") or len(line) <= limit:
                yield number, line.removesuffix("\n").removesuffix("\r")
                continue
            size, last = len(line), ""
            while line and not line.endswith("\n"):
                last = line[-1]
                line = f.readline(_CHUNK)
                size += len(line)
            if line.endswith("\n"):  # the \r of a \r\n may end the piece before
                size -= 2 if (line[-2] if len(line) > 1 else last) == "\r" else 1
            yield number, size
