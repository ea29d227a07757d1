"""`./mesh up` as newcomers start it, from a fresh clone in a private (0700) folder.

One clone and one `.venv` for the module (synced from the warm uv cache). Each case runs the
real command and reads the real Dagster instance of the clone; "nothing left behind" is
checked in the process table (no process naming the clone, its PostgreSQL folder or a port
it used), after the command has ended.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.support.processes import free_port, wait_for

pytestmark = pytest.mark.slow
SCALE = ["--tenants", "2", "--orders-per-tenant", "100"]
SMALL = [*SCALE, "--no-materialize"]
LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename } } } } }"""
GRAPH = (
    "{ assetNodes { assetKey { path } dependencyKeys { path } repository { location { name } } } }"
)
UI_LINE = re.compile(r"mesh: Dagster UI: (http://127\.0\.0\.1:\d+)  \(Ctrl-C stops everything\)")
PG_LINE = re.compile(r"tenant databases: PostgreSQL on 127\.0\.0\.1:\d+ \((.+)\)")
QUEUE_PAUSED = "run_queue:\n  max_concurrent_runs: 0\ntelemetry:\n  enabled: false\n"


class Clone:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.home = root / ".mesh" / "dagster_home"

    def start(self, args: list[str], log: str, mesh: bool = False, **env) -> subprocess.Popen:
        """`./mesh up ARGS` (or meshctl dev, without the re-sync), in its own process group as
        a terminal would run it, output to `log`."""
        command = ["./mesh", "up"] if mesh else [str(self.root / ".venv/bin/meshctl"), "dev"]
        out = (self.root.parent / log).open("wb")
        return subprocess.Popen(
            [*command, *args], cwd=self.root, env={**self.env, **env}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def output(self, log: str) -> str:
        return (self.root.parent / log).read_text(errors="replace")

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def runs(self, **filters) -> list[dg.DagsterRun]:
        with self.instance() as instance:
            records = instance.get_run_records(filters=dg.RunsFilter(**filters))
            return [r.dagster_run for r in records]


@pytest.fixture(scope="module")
def clone(repo_root: Path) -> Iterator[Clone]:
    private = Path(tempfile.mkdtemp(prefix="mesh-newcomer-"))
    private.chmod(0o700)  # like /root: others (the PostgreSQL service user) cannot enter
    root = private / "mesh"
    subprocess.run(["git", "clone", "--quiet", str(repo_root), str(root)], check=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MESH_", "DAGSTER_", "TENANT_", "VIRTUAL_ENV", "PYTEST"))
    }
    uv = shutil.which("uv")
    assert uv, "uv must be on PATH (./mesh test puts it there)"
    subprocess.run(
        [uv, "sync", "--frozen", "--quiet"], cwd=root, env={**env, "UV_COMPILE_BYTECODE": "1"},
        check=True, timeout=600,
    )  # fmt: skip
    try:
        yield Clone(root, env)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def left_behind(*needles: str) -> list[str]:
    """Command lines of live processes that name any of `needles`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(n in cmdline for n in needles):
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def cross_location_edges(url: str) -> set[tuple[str, str]]:
    """(upstream location, downstream location) of every edge of the UI's global graph."""
    nodes = graphql(url, GRAPH)["assetNodes"]
    where = {tuple(n["assetKey"]["path"]): n["repository"]["location"]["name"] for n in nodes}
    return {
        (where[tuple(d["path"])], where[tuple(n["assetKey"]["path"])])
        for n in nodes
        for d in n["dependencyKeys"]
        if where[tuple(d["path"])] != where[tuple(n["assetKey"]["path"])]
    }


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# Seconds a stop may take: the in-flight run is ended through its code server and Dagster's
# processes get a short grace, so no wait on Dagster's own shutdown (10-30 s on a busy machine)
# or on a code server's 45 s heartbeat timeout.
STOP_SECONDS = 30
ORPHAN_SECONDS = 5  # then nothing of the clone may be left (the issue: "within a few seconds")


def ctrl_c(process: subprocess.Popen) -> int:
    os.killpg(process.pid, signal.SIGINT)  # what the terminal does: the whole foreground group
    return process.wait(timeout=STOP_SECONDS)


def sigterm(process: subprocess.Popen) -> int:
    """`kill <pid>` of meshctl alone, as the "already running" message suggests."""
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=STOP_SECONDS)


def assert_all_stopped(clone: Clone, log: str, *ports: int) -> None:
    text = clone.output(log)
    assert "Traceback" not in text, text[-3000:]
    # No error spam while stopping: the broker outlives every run that could still reach it.
    stopping = text.partition("mesh: stopping")[2]
    assert stopping, text[-3000:]
    assert "rdkafka" not in stopping and "Connection refused" not in stopping, stopping[-3000:]
    pg_dirs = PG_LINE.findall(text)
    # A process Python's multiprocessing starts (its resource tracker) ignores SIGTERM and ends
    # when its parent's pipe closes: a moment after the command returns, not at once.
    gone = time.monotonic() + ORPHAN_SECONDS
    while left_behind(str(clone.root), *pg_dirs) and time.monotonic() < gone:
        time.sleep(0.2)
    assert not left_behind(str(clone.root), *pg_dirs)
    assert not [p for p in ports if listening(p)]
    in_flight = [
        dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING,
    ]  # fmt: skip
    assert not [r for r in clone.runs(statuses=in_flight) if "mesh/stream" in r.tags]


def test_taken_ports_are_refused_before_anything_starts(clone: Clone) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = clone.start(["--port", str(port), *SMALL], "taken-ui.log", mesh=True)
        assert process.wait(timeout=600) == 2
        broker = clone.start(
            ["--port", str(free_port()), "--broker-port", str(port), *SMALL], "taken-broker.log"
        )
        assert broker.wait(timeout=120) == 2
    ui = clone.output("taken-ui.log").strip().splitlines()[-1]
    assert re.fullmatch(
        rf"mesh: port {port} \(the Dagster UI\) is already in use on 127\.0\.0\.1\. Fix: stop "
        rf"what listens there, or run `\./mesh up --port \d+`\.",
        ui,
    ), ui
    assert f"port {port} (the local Kafka broker)" in clone.output("taken-broker.log")
    assert "--broker-port" in clone.output("taken-broker.log")
    # Refused up front: no database, no Dagster, no run.
    assert "tenant databases" not in clone.output("taken-ui.log")
    assert not left_behind(str(clone.root))


def test_up_as_root_in_a_private_folder_second_start_and_ctrl_c(clone: Clone) -> None:
    """The first start materializes the whole mesh (dbt builds included), then serves every
    location and the global graph; a second start is refused; Ctrl-C stops everything."""
    port, broker = free_port(), free_port()
    up = clone.start(["--port", str(port), "--broker-port", str(broker), *SCALE], "up.log")
    try:
        url = wait_for(lambda: UI_LINE.search(clone.output("up.log")), 900, "the UI line")[1]
        assert url == f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{url}/server_info", timeout=10) as response:
            assert response.status == 200  # the printed address is the one that answers
        # Materialized before Dagster started, so the UI opens on data: 14 Python products
        # (3 of them tenant_sync's) and 18 dbt models.
        assert "32/32 assets" in clone.output("up.log")
        assert (clone.root / ".mesh" / "warehouse.duckdb").is_file()

        def loaded():
            try:
                entries = graphql(url, LOCATIONS)["workspaceOrError"]["locationEntries"]
            except OSError:
                return None
            statuses = {e["name"]: e["locationOrLoadError"]["__typename"] for e in entries}
            return statuses if all(e["loadStatus"] == "LOADED" for e in entries) else None

        statuses = wait_for(loaded, 300, "the webserver to load every location")
        assert statuses == dict.fromkeys(
            ("platform", "sales", "marketing", "finance", "tenant_sync"), "RepositoryLocation"
        )
        assert {("platform", "sales"), ("sales", "marketing"), ("sales", "finance"),
                ("marketing", "finance"), ("tenant_sync", "platform")} <= cross_location_edges(url)  # fmt: skip

        second = clone.start(["--port", str(free_port()), *SMALL], "second.log")
        assert second.wait(timeout=120) == 2
        line = clone.output("second.log").strip().splitlines()[-1]
        assert line == (
            f"mesh: `./mesh up` is already running for this home (pid {up.pid}, Dagster UI "
            f"{url}, lock {clone.root}/.mesh/up.lock). Fix: use that one, or stop it first "
            f"(Ctrl-C in its terminal, or `kill {up.pid}`)."
        )

        # Ctrl-C with the stream on and a stream run landing.
        wait_for(
            lambda: clone.runs(
                tags={"mesh/stream": "clicks"},
                statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.SUCCESS],
            ),
            300, "a stream run to start",
        )  # fmt: skip
        assert ctrl_c(up) == 130
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
    assert_all_stopped(clone, "up.log", port, broker)
    if os.geteuid() == 0:  # PostgreSQL ran as its service user, from outside the private folder
        assert not str(PG_LINE.search(clone.output("up.log"))[1]).startswith(str(clone.root))


def test_restart_without_the_stream_cancels_stale_stream_runs_quietly(clone: Clone) -> None:
    """An earlier session with the stream ended abruptly (terminal closed) with stream runs
    queued; `./mesh up --no-stream` stops its leftovers and cancels those runs, and nothing
    fails or alerts afterwards."""
    home = clone.home
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(QUEUE_PAUSED)  # runs stay queued: deterministic
    port, broker = free_port(), free_port()
    earlier = clone.start(
        ["--port", str(port), "--broker-port", str(broker), *SMALL], "earlier.log",
        DAGSTER_HOME=str(home),
    )  # fmt: skip
    try:
        queued = wait_for(
            lambda: clone.runs(tags={"mesh/stream": "clicks"}, statuses=[dg.DagsterRunStatus.QUEUED]),
            600, "a queued stream run",
        )  # fmt: skip
    finally:
        os.kill(earlier.pid, signal.SIGKILL)  # only meshctl: Dagster, broker, producer remain
        earlier.wait()
    assert left_behind(str(clone.root))  # the abrupt end really left its processes

    shutil.copyfile(clone.root / "deployment/local/dagster.yaml", home / "dagster.yaml")
    port = free_port()
    up = clone.start(["--no-stream", "--port", str(port), *SMALL], "restart.log",
                     DAGSTER_HOME=str(home))  # fmt: skip
    try:
        wait_for(lambda: UI_LINE.search(clone.output("restart.log")), 600, "the UI line")
        text = clone.output("restart.log")
        assert "left running by an earlier `./mesh up`" in text
        assert re.search(
            r"earlier session: canceled .*\d+ queued stream run\(s\) \(the stream is off\)", text
        )
        ids = {r.run_id for r in queued}
        assert ids <= {r.run_id for r in clone.runs(statuses=[dg.DagsterRunStatus.CANCELED])}

        # The monitoring sensor of marketing has looked at the canceled runs (it tags each
        # finished run with its cost); only then is "no failure, no retry, no alert" meaningful.
        wait_for(
            lambda: all("mesh/cost_usd" in r.tags for r in clone.runs(run_ids=list(ids))),
            300, "the monitoring sensor to see the canceled runs",
        )  # fmt: skip
        assert not clone.runs(statuses=[dg.DagsterRunStatus.FAILURE])
        assert not clone.runs(tags={"mesh/stream": "clicks"}, statuses=[dg.DagsterRunStatus.QUEUED])
        assert "mesh.alerts" not in clone.output("restart.log")
        assert sigterm(up) == 130
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
    assert_all_stopped(clone, "restart.log", port, broker)
    assert not left_behind(*PG_LINE.findall(clone.output("earlier.log")))
