"""Stopping the process groups `./mesh up` starts, with real processes: whatever a member does
with SIGTERM, nothing of any group survives and each leader is reaped."""

import subprocess
import sys

from mesh_tooling.dev.processes import group_alive, stop_groups, stop_members

# A leader that starts a child in its own group, both ignoring SIGTERM (as a code server
# waiting on a run, or a run worker, may); the child's pid is printed for the test.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""
OBEDIENT = "import time; print(0, flush=True); time.sleep(600)"


def start(code: str) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    child = int(process.stdout.readline())  # started (and its handlers set) before we stop it
    return process, child


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_every_group_goes_whether_or_not_it_obeys_sigterm():
    stubborn, child = start(STUBBORN)
    obedient, _ = start(OBEDIENT)
    assert alive(child) and group_alive(stubborn.pid) and group_alive(obedient.pid)

    stop_groups([(stubborn.pid, stubborn), (obedient.pid, obedient)], grace=1)

    assert not group_alive(stubborn.pid) and not group_alive(obedient.pid)
    assert not alive(child)
    assert stubborn.returncode == -9  # SIGKILL after the grace
    assert obedient.returncode == -15  # SIGTERM was enough


def test_a_group_already_gone_is_no_error():
    process, _ = start(OBEDIENT)
    process.kill()
    process.wait()
    stop_groups([(process.pid, process)], grace=1)
    assert not group_alive(process.pid)


# A leader with two children in its group; only the one whose command line holds the marker
# is to be stopped first (as `./mesh up` stops Dagster's daemon before its code servers).
TWO_CHILDREN = """
import subprocess, sys, time
sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
marked = subprocess.Popen([*sleep, "marked-" + "member"])  # the leader's own text lacks it
other = subprocess.Popen([*sleep, "other-member"])
print(marked.pid, other.pid, flush=True)
time.sleep(600)
"""


def test_stop_members_stops_only_the_marked_member_of_a_group():
    leader = subprocess.Popen(
        [sys.executable, "-c", TWO_CHILDREN], stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    marked, other = (int(pid) for pid in leader.stdout.readline().split())
    try:
        assert alive(marked) and alive(other)
        stop_members(leader.pid, "marked-member", grace=10)
        assert not alive(marked)
        assert alive(other) and leader.poll() is None
    finally:
        stop_groups([(leader.pid, leader)], grace=5)
    assert not alive(other)
