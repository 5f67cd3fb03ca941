"""Fault injection for the durability tests: a results file on a disk that fills up.

:class:`FullDisk` wraps ``os.write`` and ``os.fsync`` for one file only (every other file
descriptor goes to the real calls): the file may grow to ``room`` bytes, a write that does not
fit is written in part (a short write, as the kernel does) and the next one fails with
``ENOSPC``; with ``fsync_after=N`` the (N+1)-th ``fsync`` of the file fails instead, as on
NFS or a quota. The bytes really go to the real file.

Run a command under it in a subprocess with::

    python -c "import tests._faults as f; f.main()" PATH ROOM -- grade ...
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any

REAL_WRITE = os.write
REAL_FSYNC = os.fsync


class FullDisk:
    """``os.write`` / ``os.fsync`` on ``path`` as on a disk with room for ``room`` bytes."""

    def __init__(self, path: Path, room: int | None = None, *, fsync_after: int | None = None) -> None:
        self.path = path
        self.room = room
        self.fsync_after = fsync_after
        self.fsyncs = 0
        self.failures = 0
        self.short_writes = 0

    def _target(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except OSError:
            return False

    def _full(self) -> OSError:
        self.failures += 1
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def write(self, fd: int, data: Any) -> int:
        if self.room is None or not self._target(fd):
            return REAL_WRITE(fd, data)
        left = self.room - os.fstat(fd).st_size
        if left <= 0:
            raise self._full()
        if left < len(data):
            self.short_writes += 1
        return REAL_WRITE(fd, bytes(data[:left]))

    def fsync(self, fd: int) -> None:
        if self.fsync_after is not None and self._target(fd):
            self.fsyncs += 1
            if self.fsyncs > self.fsync_after:
                raise self._full()
        REAL_FSYNC(fd)

    def install(self) -> None:
        os.write = self.write  # type: ignore[assignment]
        os.fsync = self.fsync  # type: ignore[assignment]


def main() -> None:
    """``PATH ROOM -- ARGS``: run ``llm-grader ARGS`` with ``PATH`` on a disk of ``ROOM`` bytes."""
    path, room, dash, *args = sys.argv[1:]
    assert dash == "--"
    FullDisk(Path(path).resolve(), int(room)).install()
    sys.argv = ["llm-grader", *args]
    from llm_grader.cli import main as cli_main

    cli_main()
