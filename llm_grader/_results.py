"""Results files: append-only JSONL of scorecards, written durably and read back.

One run writes one results file: the writer holds an exclusive lock on ``<file>.lock`` for as
long as it is open, so a second run on the same file (``grade --resume`` twice) refuses at
once instead of grading everything again and writing duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from ._textfiles import decode_utf8, shown_key
from .errors import InputError, LLMGraderError, OutputLockedError, OutputWriteError
from .scoring import Scorecard

try:  # POSIX; elsewhere the results file is not locked (said in docs/cli.md)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _lock(path: Path) -> IO[bytes] | None:
    """Hold an exclusive lock on ``<path>.lock``; refuse when another process holds it.

    The lock file is removed when the lock is released (:func:`_release`), so a finished run
    leaves none. A run that opened the file just before it was removed may then lock a file
    no longer in the folder: after locking, the handle must still be the file at the path,
    else it is opened again.
    """
    if fcntl is None:
        return None
    lock_path = path.with_name(path.name + ".lock")
    while True:
        handle = lock_path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise OutputLockedError(
                f"another llm-grader run is writing {str(path)!r} (it holds {path.name}.lock); "
                "wait for it to finish or write to another file with -o"
            ) from None
        try:
            same = os.path.samestat(os.fstat(handle.fileno()), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()  # removed by the run that held it: lock the new one


def _release(handle: IO[bytes]) -> None:
    """Remove the lock file, then release the lock (closing the handle)."""
    with contextlib.suppress(OSError):  # already gone, or a read-only folder: the lock is released anyway
        os.unlink(handle.name)
    handle.close()


class ResultsWriter:
    """Append-only JSONL of scorecards: one complete line per conversation, synced at once.

    On open with ``resume``, a torn last line (from a killed run) is cut off and the ids
    already written are in ``done``; new scorecards are appended. Without ``resume``, a file
    that already holds scorecards is refused unless ``overwrite`` says to replace it.

    A line is written whole or not at all: the writer knows the offset after the last line
    that was written and synced, and when a write or an ``fsync`` fails (a full disk, an
    I/O error) it cuts the file back to that offset and raises
    :class:`~llm_grader.errors.OutputWriteError`; every later :meth:`write` raises the same
    error, so no line is ever glued to a torn one.

    On an event loop, :meth:`submit` is the group commit: the line is written at once (a
    page-cache write; a short write or ``ENOSPC`` raises there and then, cut back to the last
    whole line) and the ``fsync`` runs on the writer's own thread — one ``fsync`` for every
    line written while the previous one was in progress — so requests in flight never wait
    for the disk. The future it returns is done when the line is synced (or fails with the
    :class:`~llm_grader.errors.OutputWriteError` of a failed ``fsync``: the file is cut back
    to its last synced line, and every line after it fails the same way).
    """

    def __init__(self, path: str | Path, *, resume: bool = False, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.path)
        self.done: set[str] = set()
        self._failed: OutputWriteError | None = None
        try:
            if resume and self.path.exists():
                self._repair()
                self.done = {card.conversation_id for card in read_results(self.path)}
            elif self.path.exists() and self.path.stat().st_size and not overwrite:
                raise LLMGraderError(
                    f"{str(self.path)!r} already holds scorecards: pass --resume to add the conversations "
                    "not graded yet, or --overwrite to replace the file (or choose another -o)"
                )
            elif self.path.exists():
                self.path.unlink()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            self._good = os.fstat(self._fd).st_size
            """Bytes of whole lines, written and synced: where a failed ``fsync`` is cut back to."""
            self._written = self._good
            """Bytes of whole lines written (synced or not): where a failed write is cut back to."""
        except BaseException:
            self._unlock()
            raise
        self._syncer: ThreadPoolExecutor | None = None
        self._syncing: asyncio.Future[None] | None = None
        """The ``fsync`` in progress on the writer's thread, if any."""
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        """Lines written but not in a sync yet: (end offset, future told when it is synced)."""

    def _repair(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)
                f.flush()
                os.fsync(f.fileno())

    def write(self, card: Scorecard) -> None:
        """Append one scorecard as one whole line and make it durable, or raise and append nothing.

        The line is built before anything is written, so a scorecard that cannot be
        serialised raises (``ValueError``) and leaves the file as it was. An ``OSError``
        while writing or syncing cuts the file back to its last whole line and raises
        :class:`~llm_grader.errors.OutputWriteError`, here and on every later call.
        """
        self._append(card)
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self._failed = self._fail(exc, self._good)
            raise self._failed from None
        self._good = self._written

    def submit(self, card: Scorecard) -> asyncio.Future[None]:
        """Append one scorecard as one whole line now; the future is done once the line is synced.

        Call on the event loop. Raises at once as :meth:`write` does for a scorecard that cannot
        be serialised or a write that fails; a failed ``fsync`` fails the future (and those of
        every line written after it) with :class:`~llm_grader.errors.OutputWriteError`.
        """
        self._append(card)
        synced: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((self._written, synced))
        if self._syncing is None:
            self._sync_next()
        return synced

    async def drain(self) -> None:
        """Wait until every line submitted is synced (or has failed)."""
        while self._syncing is not None:
            await asyncio.wait([self._syncing])

    def _append(self, card: Scorecard) -> None:
        """Write the card's line whole, or cut back to the last whole line and raise."""
        if self._failed is not None:
            raise self._failed
        data = (card.model_dump_json() + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:  # a short write (the disk filling up) is followed by the rest, or by an error
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self._failed = self._fail(exc, self._written)
            raise self._failed from None
        self._written += len(data)

    def _fsync(self) -> None:
        os.fsync(self._fd)

    def _sync_next(self) -> None:
        """Start one ``fsync`` on the writer's thread for every line waiting."""
        group, self._waiting = self._waiting, []
        if self._syncer is None:
            self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-grader-fsync")
        syncing = asyncio.wrap_future(self._syncer.submit(self._fsync))
        self._syncing = syncing
        syncing.add_done_callback(lambda done: self._synced(done, group))

    def _synced(self, done: asyncio.Future[None], group: list[tuple[int, asyncio.Future[None]]]) -> None:
        """On the event loop: tell the group's lines they are synced, or fail them and every later one."""
        self._syncing = None
        if done.cancelled() or self._fd < 0:  # the loop is going away, or the file was closed (and synced)
            for _, synced in group + self._waiting:
                synced.cancel()
            self._waiting = []
            return
        exc = done.exception()
        if exc is None:
            self._good = max(self._good, group[-1][0])
            for _, synced in group:
                if not synced.done():
                    synced.set_result(None)
            if self._waiting:
                self._sync_next()
            return
        error: BaseException = exc
        if isinstance(exc, OSError):  # the lines not synced are cut off; none is written after them
            self._failed = self._fail(exc, self._good)
            error = self._failed
        group, self._waiting = group + self._waiting, []
        for _, synced in group:
            if not synced.done():
                synced.set_exception(error)

    def _fail(self, exc: OSError, good: int) -> OutputWriteError:
        """Cut the file back to ``good`` (its last whole line); the error that says what and where."""
        where = f"results file {str(self.path)!r}"
        reason = exc.strerror or str(exc)
        code = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno is not None else ""
        try:
            os.ftruncate(self._fd, good)
            self._written = good
            with contextlib.suppress(OSError):  # what readers see is cut back already; syncing it is a bonus
                os.fsync(self._fd)
            kept = "it keeps every scorecard written before, as whole lines"
        except OSError as cut:
            kept = (
                f"cutting it back to its last whole line also failed ({cut.strerror or cut}): "
                "a partial last line may remain, which --resume removes"
            )
        return OutputWriteError(
            f"cannot write to {where}: {reason}" + (f" ({code})" if code else "") + f"; the run stopped, "
            f"{kept}; make room (or choose another -o) and rerun with --resume",
            path=str(self.path),
            errno=exc.errno,
        )

    def _unlock(self) -> None:
        if self._lock is not None:
            _release(self._lock)
            self._lock = None

    def close(self) -> None:
        """Sync what is written, close the file and release the lock (idempotent)."""
        if self._syncer is not None:
            self._syncer.shutdown(wait=True)  # an fsync in progress finishes before the file is closed
            self._syncer = None
        fd, self._fd = self._fd, -1
        if fd >= 0:
            if self._written > self._good and self._failed is None:
                with contextlib.suppress(OSError):  # lines nobody was told are written: a bonus
                    os.fsync(fd)
            os.close(fd)
        self._unlock()


def count_results(path: str | Path) -> int:
    """How many whole, non-blank lines (scorecards) ``path`` holds; 0 when it does not exist.

    Counted from the bytes, without parsing: cheap enough for a closing line.
    """
    try:
        with Path(path).open("rb") as f:
            return sum(1 for line in f if line.endswith(b"\n") and line.strip())
    except FileNotFoundError:
        return 0


def _not_a_scorecard(path: str | Path, number: int, data: Any, exc: Exception) -> InputError:
    file = str(path)
    if isinstance(data, dict) and "turns" in data:
        message = (
            "this is a conversation, not a scorecard: give the results file that `llm-grader grade -o` wrote"
        )
        return InputError.at(file, number, "", message)
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = shown_key(".".join(str(p) for p in first["loc"])) or "(line)"
        return InputError.at(file, number, where, f"not a scorecard: {first['msg']}")
    if isinstance(exc, RecursionError):
        return InputError.at(file, number, "", "not a scorecard: nested too deeply")
    return InputError.at(file, number, "", f"not a scorecard: {exc}")


def read_results(path: str | Path) -> Iterator[Scorecard]:
    """Read scorecards from a results JSONL file; a torn last line is ignored.

    A line that is not a scorecard (or not UTF-8) raises :class:`~llm_grader.errors.InputError`
    naming the file, the line and the field.
    """
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError.at(file, None, "", f"cannot read the results file: {exc.strerror or exc}") from None
    # A last line without its newline is one a run was writing when it died: bytes cut
    # anywhere, even inside a character.
    whole = data.rfind(b"\n") + 1
    lines = decode_utf8(data[:whole], file, what="results file").split("\n")
    try:
        lines[-1] = data[whole:].decode("utf-8")
    except UnicodeDecodeError:
        lines[-1] = ""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        value: Any = None
        try:
            value = json.loads(line)
            yield Scorecard.model_validate(value)
        except (ValueError, RecursionError) as exc:
            if number == len(lines):  # no newline yet: a line being written when a run died
                return
            raise _not_a_scorecard(path, number, value, exc) from None


def load_results(path: str | Path) -> list[Scorecard]:
    """All scorecards of a results file; refuses a file with the same conversation twice."""
    if not Path(path).is_file():
        raise LLMGraderError(f"results file {str(path)!r} does not exist")
    cards = list(read_results(path))
    counts = Counter(c.conversation_id for c in cards)
    twice = sorted(cid for cid, n in counts.items() if n > 1)
    if twice:
        shown = ", ".join(twice[:10]) + (f" and {len(twice) - 10} more" if len(twice) > 10 else "")
        raise LLMGraderError(
            f"{path}: {len(twice)} conversation(s) appear more than once: {shown}; "
            "keep one scorecard per conversation (two runs wrote to the same file?)"
        )
    return cards
