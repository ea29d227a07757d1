"""One `./mesh up` per mesh home: a lock file under .mesh/ that says who holds it and where.

The lock is an `flock` on `.mesh/up.lock`, held by the meshctl process for its lifetime: the
kernel releases it when that process ends, however it ends, so a crashed session never blocks
the next one. The file's JSON says which process holds it, its UI address, and the processes it
started (so the next session can stop any an abrupt end left behind).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from platform_core.errors import ConfigurationError

from mesh_tooling.dev.processes import cmdline

LOCK_NAME = "up.lock"


@dataclass
class SessionLock:
    path: Path
    url: str
    processes: list[dict] = field(default_factory=list)
    _fd: int | None = None

    def acquire(self) -> dict:
        """Take the lock or raise naming the session that holds it; returns the previous
        (ended) session's record, {} when there was none."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_record(self.path)
            raise ConfigurationError(
                f"`./mesh up` is already running for this home (pid {holder.get('pid', '?')}, "
                f"Dagster UI {holder.get('url', '?')}, lock {self.path}). Fix: use that one, or "
                f"stop it first (Ctrl-C in its terminal, or `kill {holder.get('pid', '<pid>')}`)."
            ) from None
        previous = read_record(self.path)
        self._fd = fd
        self._write()
        return previous

    def started(self, pid: int) -> None:
        """Record a process this session started (its own process group), for cleanup."""
        self.processes.append({"pid": pid, "cmdline": cmdline(pid)})
        self._write()

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def _write(self) -> None:
        record = {"pid": os.getpid(), "url": self.url, "processes": self.processes}
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(record).encode(), 0)


def read_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def leftovers(previous: dict) -> list[int]:
    """Process groups an ended session started that still run the same command."""
    return [
        entry["pid"]
        for entry in previous.get("processes", [])
        if entry.get("cmdline") and cmdline(entry["pid"]) == entry["cmdline"]
    ]
