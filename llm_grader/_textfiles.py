"""Reading a file the user gave as UTF-8 text: every failure one ``file:line: message`` error.

Results files, human scores, review sheets, price tables and batch state files are read
through :func:`read_utf8` (or :func:`decode_utf8` for bytes already read), so that a file in
another encoding or with a stray byte is an :class:`~llm_grader.errors.InputError` naming the
line of the first bad byte, never a ``UnicodeDecodeError``.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError


def shown_key(part: object) -> str:
    """A key or field path as a message shows it: itself when short printable text, else quoted and cut.

    A key comes from the file, so it may be a megabyte long or hold line breaks; a message
    stays one short line.
    """
    if isinstance(part, str) and part.isprintable() and len(part) <= 80:
        return part
    return repr(part)[:80] + ("…" if len(repr(part)) > 80 else "")


def decode_utf8(data: bytes, file: str, *, what: str, fix: str = "") -> str:
    """``data`` as text (a leading byte-order mark dropped); InputError at the first bad byte's line.

    The message ends with how to fix it: ``fix``, by default "save the <what> as UTF-8".
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start]
        fix = fix or f"save the {what} as UTF-8"
        message = f"not UTF-8 text (byte 0x{byte:02x} at column {column}: {exc.reason}); {fix}"
        raise InputError.at(file, line, "", message) from None


def read_utf8(path: str | Path, *, what: str, fix: str = "") -> str:
    """The text of the file at ``path``; InputError when it cannot be read or is not UTF-8.

    ``what`` names the file in messages (``"results file"``, ``"price file"``); ``fix`` is as
    for :func:`decode_utf8`.
    """
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError.at(file, None, "", f"cannot read the {what}: {exc.strerror or exc}") from None
    return decode_utf8(data, file, what=what, fix=fix)
