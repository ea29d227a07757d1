"""Stopping the process groups `./mesh up` starts: politely first, then for certain."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def default_signals() -> None:
    """preexec_fn: a non-interactive parent may have SIGINT/SIGTERM ignored; children obey."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return any(_pgid_of(pid) == pgid for pid in _pids()) if Path("/proc").is_dir() else True


def stop_group(pgid: int, grace: float = 10.0, process: subprocess.Popen | None = None) -> None:
    """SIGTERM the group, wait up to `grace` s for all of it to go, then SIGKILL what is left.
    With `process` (the group's leader, our child) it is also reaped, leaving no zombie."""
    stop_groups([(pgid, process)], grace)


def stop_groups(groups: list[tuple[int, subprocess.Popen | None]], grace: float) -> None:
    """stop_group for several groups at once: all are signalled together, so stopping N
    servers costs one grace period, not N."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        alive = [(pgid, process) for pgid, process in groups if _signal(pgid, sig)]
        deadline = time.monotonic() + wait
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            for _, process in alive:
                if process is not None:
                    process.poll()
            alive = [(pgid, process) for pgid, process in alive if group_alive(pgid)]
        if not alive:
            break
    for _, process in groups:
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
                process.wait(timeout=5)


def stop_members(pgid: int, marker: str, grace: float) -> None:
    """SIGTERM the processes of group `pgid` whose command line holds `marker`, and wait up to
    `grace` s for them to go (the rest of the group keeps running)."""
    members = [
        pid
        for pid in _pids()
        if _pgid_of(pid) == pgid and marker in cmdline(pid).replace("\0", " ")
    ]
    for pid in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while members and time.monotonic() < deadline:
        time.sleep(0.1)
        members = [pid for pid in members if _pgid_of(pid) == pgid]


def cmdline(pid: int) -> str:
    """The process's command line as /proc holds it (arguments NUL-separated); '' if gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _signal(pgid: int, sig: int) -> bool:
    """Send `sig` to the group; False when it is gone already."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _pgid_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    # state is fields[0]; a zombie holds no resources and goes when its parent reaps it.
    return None if fields[0] == "Z" else int(fields[2])
