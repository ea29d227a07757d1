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
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process is not None:
                process.poll()
            if not group_alive(pgid):
                break
            time.sleep(0.1)
        else:
            continue
        break
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
            process.wait(timeout=5)


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
