"""`./mesh up`: check everything first, start the local mesh, and stop all of it on Ctrl-C.

Order of start: the session lock (one per home), every port (UI, broker, database), runs an
earlier session left behind, sample data and PostgreSQL, the click-stream, then `dagster dev`
in its own process group. The terminal's Ctrl-C therefore reaches only this process, which stops
the rest in an order that leaves nothing behind: the producer, in-flight runs (a moment to
finish, then through their code servers), Dagster (a short grace, then SIGKILL: it holds
nothing by then), the broker, PostgreSQL. Each step has a deadline, so a stop takes seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from platform_core.environment import Environment

from mesh_tooling.dev.ports import Port, check_ports, free_port
from mesh_tooling.dev.processes import (
    default_signals,
    group_alive,
    stop_group,
    stop_groups,
    stop_members,
)
from mesh_tooling.dev.session import LOCK_NAME, SessionLock, leftovers
from mesh_tooling.dev.stale_runs import IN_FLIGHT, cancel_queued_stream_runs, reconcile_stale_runs


class Interrupted(Exception):
    """Ctrl-C or SIGTERM reached `./mesh up`."""


_stopping: list[bool] = []


def _interrupt(*_: object) -> None:
    # Only the first signal interrupts: the terminal and `uv run` may each deliver one, and a
    # second must not cut into the shutdown it started.
    if not _stopping:
        _stopping.append(True)
        raise Interrupted


@dataclass
class UpOptions:
    host: str
    port: int
    stream: bool
    broker_port: int
    stream_rate: float
    external_broker: bool  # MESH_KAFKA_BOOTSTRAP_SERVERS already points at one


def say(message: str) -> None:
    print(f"mesh: {message}", flush=True)


def run_up(
    root: Path,
    env: Environment,
    options: UpOptions,
    prepare: Callable[[int], None],
    dagster_home: Callable[[], Path],
) -> int:
    """`prepare(db_port)` seeds (and materializes) with PostgreSQL on db_port."""
    ui_host = "127.0.0.1" if options.host in ("0.0.0.0", "::", "") else options.host
    url = f"http://{ui_host}:{options.port}"
    lock = SessionLock(env.mesh_home / LOCK_NAME, url)
    previous = lock.acquire()  # raises, naming the running session, if there is one
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    children: list[tuple[str, subprocess.Popen]] = []
    dagster: subprocess.Popen | None = None
    try:
        for pgid in leftovers(previous):
            say(f"stopping process group {pgid}, left running by an earlier `./mesh up`")
            stop_group(pgid)
        ports = [Port("the Dagster UI", options.host, options.port, "--port")]
        if options.stream and not options.external_broker:
            ports.append(
                Port("the local Kafka broker", "127.0.0.1", options.broker_port, "--broker-port")
            )
        check_ports(ports)
        db_port = free_port()  # PostgreSQL: any free port, printed when it starts

        dagster_home()
        _reconcile(options.stream, "the `./mesh up` session that ran it had ended")
        prepare(db_port)
        if options.stream:
            from mesh_tooling.cli.streaming import start_local_stream

            for name, process in start_local_stream(
                env.mesh_home, options.stream_rate, options.broker_port
            ):
                children.append((name, process))
                lock.started(process.pid)
        command = [
            sys.executable, "-m", "dagster", "dev",
            "-w", str(root / "workspace.yaml"),
            "--host", options.host, "--port", str(options.port),
        ]  # fmt: skip
        # Its own process group: the terminal's Ctrl-C comes to us, and we stop it in order.
        dagster = subprocess.Popen(
            command, cwd=root, preexec_fn=default_signals, start_new_session=True
        )
        lock.started(dagster.pid)
        if not _wait_until_answers(url, dagster):
            say(f"Dagster stopped before its UI answered (exit {dagster.returncode}); see above.")
            return dagster.returncode or 1
        say(f"Dagster UI: {url}  (Ctrl-C stops everything)")
        while dagster.poll() is None:
            time.sleep(0.5)
        say(f"Dagster exited ({dagster.returncode}); stopping the rest.")
        return dagster.returncode
    except Interrupted:
        say("stopping (runs, Dagster, click-stream, PostgreSQL) ...")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _shutdown(dagster, children)
        lock.release()


def _reconcile(stream_on: bool, reason: str, who: str = "earlier session") -> None:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        summary = reconcile_stale_runs(instance, stream_on, reason).summary()
    if summary:
        say(f"{who}: {summary}")


def _reconcile_at_stop() -> None:
    """Dagster is down: a run still in flight lost its process, and a stream run the sensor
    queued during the stop would wait for a broker that is gone; the next session's sensor
    plans those offsets again."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        done = reconcile_stale_runs(instance, True, "`./mesh up` was stopped while it ran")
        done.stream_queued = cancel_queued_stream_runs(
            instance, "`./mesh up` was stopped before it ran"
        )
    if done.in_flight:
        say(f"at stop: canceled {len(done.in_flight)} run(s) still in flight")


def _wait_until_answers(url: str, dagster: subprocess.Popen) -> bool:
    """True once the webserver we started answers at `url` (loading code can take a minute)."""
    while dagster.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


# Seconds Dagster's processes get to exit on SIGTERM once no run is left in flight. They hold
# nothing then that a SIGKILL could lose (SQLite commits atomically), and on a busy machine
# `dagster dev` takes 10-30 s to wind down its webserver, daemon and code servers in turn.
DAGSTER_GRACE_SECONDS = 3.0
DAEMON_MARKER = "dagster._daemon run"  # how `dagster dev` starts its daemon


def _shutdown(dagster: subprocess.Popen | None, children: list[tuple[str, subprocess.Popen]]):
    producer = [(p.pid, p) for name, p in children if name == "producer"]
    servers = [(p.pid, p) for name, p in children if name != "producer"]
    # Nothing new to land while we stop; it exits while the runs end.
    for pgid, _ in producer:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    if dagster is not None and group_alive(dagster.pid):
        # Runs end (on their own, else through their code servers) with their events written;
        # then the group (webserver, code servers, any run that did not obey) goes.
        _end_runs()
        # The daemon first: a sensor tick it starts while the code servers go would log
        # "Could not reach user code server" with a traceback.
        stop_members(dagster.pid, DAEMON_MARKER, grace=DAGSTER_GRACE_SECONDS)
        stop_group(dagster.pid, grace=DAGSTER_GRACE_SECONDS, process=dagster)
    if dagster is not None:
        _reconcile_at_stop()
    # The broker goes last: a run still winding down must not lose it and log errors.
    stop_groups(producer + servers, grace=10)


def _end_runs(finish: float = 3.0, terminate: float = 2.0) -> None:
    """Give running runs `finish` s to end by themselves (a stream micro-batch takes seconds;
    a run stopped mid-step logs its interruption as an error), then ask each one's code server
    to stop it and give them `terminate` s more. The daemon still runs meanwhile: stream runs
    its sensor queues are canceled as they come (the sensor plans their offsets again next
    session); anything else it starts is stopped with the group and reconciled."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:

        def running() -> list:
            cancel_queued_stream_runs(instance, "`./mesh up` was stopped before it ran")
            # NOT_STARTED runs have no process yet: they are canceled after the stop.
            return instance.get_run_records(filters=dg.RunsFilter(statuses=RUNNING))

        deadline = time.monotonic() + finish
        while running() and time.monotonic() < deadline:
            time.sleep(0.25)
        asked: set[str] = set()
        deadline = time.monotonic() + terminate
        while (records := running()) and time.monotonic() < deadline:
            for record in records:
                run_id = record.dagster_run.run_id
                if run_id not in asked:
                    asked.add(run_id)
                    # Its code server may be gone already: such a run is reconciled after the stop.
                    with contextlib.suppress(Exception):
                        instance.run_launcher.terminate(run_id)
            time.sleep(0.25)


RUNNING = [s for s in IN_FLIGHT if s.value != "NOT_STARTED"]
