"""The OSS topology run for real, once per test session: PostgreSQL run/event/schedule storage
from `deployment/dagster.yaml` as shipped, `dagster-daemon run`, `dagster-webserver`, one
`dagster code-server start` per location (the command and environment of the location images),
the warehouse on a fakesnow server so runs can be concurrent, tenant databases on PostgreSQL,
a Kafka-protocol broker (noida-db) for marketing's click-stream, whose sensors the daemon runs,
and alerts delivered to a real local SMTP server.

The instance file is rendered by the same function that renders the shipped one
(`mesh_tooling.manifests.topology.instance_config`), with one parameter: run monitoring polls
every 2 s instead of 60 s (Dagster's schema takes a plain number there, not `env:`); the
fixture asserts that everything else equals the committed file. Its `env:` values (PostgreSQL,
DAGSTER_MAX_CONCURRENT_RUNS) come from the processes' environment, as in a deployment.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.support.mail import Inbox, smtp_server
from tests.support.processes import BIN, background, free_port, wait_for

MONITORING_POLL_SECONDS = 2
# Outside local a run forks its steps from a server that imports the location once per run
# (platform_core/executor.py): a second location import per run, which on a loaded 2-core
# machine made the code servers miss the daemon's 60 s launch deadline. Runs launched here
# through GraphQL ask for in-process steps in their run config (the executor allows it); the
# runs the sensors launch (automation, tenant schedules) use the shipped executor, and the
# stream's micro-batch job is in-process by its own definition.
# The queue, retries, monitoring and sensors under test do not depend on how a run executes.
FAST_STEPS = {"execution": {"config": {"in_process": {}}}}
STREAM_PARTITIONS = 4
MAX_CONCURRENT_RUNS = 8  # above every tag limit, so the tag limits are what bind
PG_PASSWORD = "not-a-secret"  # trust authentication: PostgreSQL ignores it

# fakesnow (0.12.1) turns `create or replace table t clone s` into `create table t as select *
# from s`, dropping OR REPLACE: on Snowflake the statement replaces t, and tenant sync swaps a
# re-synced tenant's tables in with it. The stack's fakesnow keeps the REPLACE.
# Holds: DuckDB under fakesnow has no lock waits. A test holds a table as a session holding
# its lock would (`OssStack.hold_table`, a file named after the table in the holds folder): a
# client's DML naming that table waits until the hold ends; reads do not wait, as on
# Snowflake. A client runs one statement at a time per session, so a later statement on the
# session (the rollback of a client that gave up) aborts the waiting one: it never runs late.
FAKESNOW = """
import itertools
import os
import re
import sys
import time

import fakesnow.cli
import fakesnow.cursor
import fakesnow.transforms as transforms
from snowflake.connector.errors import ProgrammingError

holds = sys.argv[2]
execute = fakesnow.cursor.FakeSnowflakeCursor.execute
DML = re.compile(r"\\s*(delete|insert|update|merge|truncate)\\b", re.IGNORECASE)
latest = {}  # id(session) -> number of its latest statement
numbers = itertools.count()


def held(command):
    names = os.listdir(holds) if DML.match(command) else []
    code = re.sub(r"'(?:[^']|'')*'", "''", command)  # a name inside a string is no table
    return [t for t in names if re.search(rf"\\b{t}\\b", code, re.IGNORECASE)]


def execute_when_free(self, command, *args, **kwargs):
    if kwargs.get("server"):  # a client's statement, not fakesnow's own
        number = latest[id(self._conn)] = next(numbers)
        while held(command):
            if latest[id(self._conn)] != number:
                raise ProgrammingError(msg="aborted while waiting on a held table", errno=604)
            time.sleep(0.05)
    return execute(self, command, *args, **kwargs)


fakesnow.cursor.FakeSnowflakeCursor.execute = execute_when_free

as_select = transforms.create_clone


def create_clone(expression):
    result = as_select(expression)
    if result is not expression and expression.args.get("replace"):
        result.set("replace", True)
    return result


transforms.create_clone = create_clone
sys.exit(fakesnow.cli.main(["-s", "-p", sys.argv[1]]))
"""

LOCATIONS_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


@dataclass
class OssStack:
    repo: Path
    folder: Path
    env: dict[str, str]  # the code servers' (and so the runs') environment
    instance: dg.DagsterInstance
    webserver_port: int
    inbox: Inbox
    postgres: object  # mesh_tooling.servers.postgres.LocalPostgres
    tenant_urls: dict[str, str]
    registry_file: Path
    holds: Path  # the fakesnow server's holds folder

    @property
    def kafka(self):
        """A client of the stack's broker, with the code servers' settings."""
        from platform_core.streaming import kafka_client_from_env

        return kafka_client_from_env(self.env)

    @contextmanager
    def warehouse(self) -> Iterator:
        """A cursor on the production database (the fakesnow server), as the platform."""
        import snowflake.connector

        env = self.env
        with snowflake.connector.connect(
            account=env["SNOWFLAKE_ACCOUNT"], user=env["SNOWFLAKE_USER"],
            password=env["SNOWFLAKE_PASSWORD"], host=env["SNOWFLAKE_HOST"],
            port=int(env["SNOWFLAKE_PORT"]), protocol="http", database=env["SNOWFLAKE_DATABASE"],
        ) as con, con.cursor() as cur:  # fmt: skip
            yield cur

    @contextmanager
    def hold_table(self, table: str) -> Iterator[None]:
        """Writes (DML) naming `table` wait in the warehouse until the block ends."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
            raise ValueError(f"not a table name: {table!r}")
        (self.holds / table).touch()
        try:
            yield
        finally:
            (self.holds / table).unlink()

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.webserver_port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def launch(
        self,
        location: str,
        job: str,
        tags: dict[str, str],
        run_config: dict | None = None,
        asset_selection: list[str] | None = None,
    ) -> str:
        """Submit a run through the webserver's GraphQL API (as the UI's Launch button does);
        the instance's QueuedRunCoordinator queues it for the daemon."""
        params: dict = {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": "__repository__",
                "jobName": job,
            },
            "runConfigData": {**FAST_STEPS, **(run_config or {})},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        }
        if asset_selection:
            params["selector"]["assetSelection"] = [{"path": k.split("/")} for k in asset_selection]
        data = self.graphql(LAUNCH_RUN, {"executionParams": params})["launchRun"]
        if data["__typename"] != "LaunchRunSuccess":
            raise AssertionError(f"launchRun of {job} in {location} failed: {data}")
        return data["run"]["runId"]

    def run(self, run_id: str) -> dg.DagsterRun:
        return self.instance.get_run_by_id(run_id)

    def wait_finished(self, run_ids: list[str], timeout: float = 180) -> list[dg.RunRecord]:
        def finished():
            records = self.instance.get_run_records(dg.RunsFilter(run_ids=run_ids))
            done = [r for r in records if r.dagster_run.is_finished]
            return len(done) == len(run_ids) and done

        return wait_for(finished, timeout, f"runs {run_ids} to finish", interval=0.5)

    def retries_of(self, run_id: str) -> list[dg.DagsterRun]:
        """The run and its automatic retries, oldest first."""
        _, group = self.instance.get_run_group(run_id)
        return sorted(group, key=lambda r: int(r.tags.get("dagster/retry_number", "0")))

    def mails(self, needle: str) -> list[tuple[list[str], str]]:
        """Delivered mails (recipients, "subject\n\nbody", decoded) that contain `needle`."""
        decoded = []
        for to, raw in self.inbox.messages:
            message = email.message_from_string(raw, policy=email.policy.default)
            decoded.append((to, f"{message['subject']}\n\n{message.get_content()}"))
        return [(to, text) for to, text in decoded if needle in text]


LAUNCH_RUN = """mutation($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
  }
}"""


def render_instance(repo: Path, dagster_home: Path) -> None:
    """dagster.yaml for the stack: the shipped file's content, run monitoring polling faster."""
    from mesh_tooling.manifests.topology import instance_config

    shipped = yaml.safe_load((repo / "deployment" / "dagster.yaml").read_text())
    rendered = instance_config(monitoring_poll_seconds=MONITORING_POLL_SECONDS)
    # Only the parameter differs from what is committed; the limits and structure are shipped.
    assert {**rendered, "run_monitoring": shipped["run_monitoring"]} == shipped
    assert rendered["run_monitoring"]["poll_interval_seconds"] == MONITORING_POLL_SECONDS
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(rendered, sort_keys=False))


def grpc_workspace(repo: Path, ports: dict[str, int]) -> dict:
    """deployment/compose/workspace.yaml, each service's host and port made local."""
    compose = yaml.safe_load((repo / "deployment" / "compose" / "workspace.yaml").read_text())
    for entry in compose["load_from"]:
        server = entry["grpc_server"]
        server["host"], server["port"] = "127.0.0.1", ports[server["location_name"]]
    return compose


def tenant_registry(urls: dict[str, str], owners: dict[str, list[str]], budgets: dict) -> str:
    """A tenants.yaml for the sample tenants: monthly cron (never due during a test), owners
    and budgets chosen by the test."""
    entries = []
    for tenant in urls:
        entry = {
            "id": tenant, "name": f"Merchant {tenant}", "source_env": f"TENANT_{tenant.upper()}_DB_URL",
            "cron": "0 3 1 * *", "owners": owners.get(tenant, ["team:platform"]),
            "sla": {"max_runtime": "10m", "freshness": "26h"},
        }  # fmt: skip
        if tenant in budgets:
            entry["monthly_budget_usd"] = budgets[tenant]
        entries.append(entry)
    return yaml.safe_dump({"tenants": entries}, sort_keys=False)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _locations_loaded(port: int, names: set[str]) -> bool:
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql",
            data=json.dumps({"query": LOCATIONS_QUERY}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            entries = json.loads(response.read())["data"]["workspaceOrError"]["locationEntries"]
    except OSError:
        return False
    errors = [
        (e["name"], e["locationOrLoadError"]["message"])
        for e in entries
        if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"
    ]
    if any("Unreachable" not in message for _, message in errors):
        raise AssertionError(f"code locations failed to load: {errors}")
    loaded = {
        e["name"] for e in entries if e["loadStatus"] == "LOADED" and e["locationOrLoadError"]
    }
    return loaded == names


# Module scope: only test_oss_stack.py uses it, and a stack left up for the rest of the
# session kept its daemon, sensors and servers busy on the 2 cores until the worker ended.
@pytest.fixture(scope="module")
def oss_stack(repo_root: Path, request) -> Iterator[OssStack]:
    """The stack, started once for test_oss_stack.py; see the module docstring."""
    from mesh_marketing.streams import CLICKS
    from mesh_tooling.dev.processes import stop_groups
    from mesh_tooling.manifests.topology import compose
    from mesh_tooling.sample.data import Scale, write_landing
    from mesh_tooling.sample.tenant_databases import seed_tenant_databases
    from mesh_tooling.servers.kafka_broker import local_broker
    from mesh_tooling.servers.postgres import start_postgres
    from platform_core.environment import detect_environment
    from platform_core.streaming import kafka_client_from_env
    from platform_core.workspace import read_locations

    scenario = request.getfixturevalue("oss_scenario")  # owners/budgets the module chooses
    folder = Path(tempfile.mkdtemp(prefix="mesh-oss-"))
    folder.chmod(0o755)  # as root PostgreSQL runs as `nobody`, which must reach its data dir
    dagster_home, mesh_home = folder / "dagster_home", folder / "mesh"
    dagster_home.mkdir()
    mesh_home.mkdir()
    render_instance(repo_root, dagster_home)
    locations = read_locations(repo_root)

    started, timings = time.monotonic(), {}
    snow_port, holds = free_port(), folder / "fakesnow-holds"
    fakesnow_server = {
        "SNOWFLAKE_ACCOUNT": "fakesnow", "SNOWFLAKE_USER": "mesh_test",
        "SNOWFLAKE_PASSWORD": "not-a-secret", "SNOWFLAKE_HOST": "127.0.0.1",
        "SNOWFLAKE_PORT": str(snow_port), "SNOWFLAKE_PROTOCOL": "http",
    }  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TENANT_", "DAGSTER_"))}
    # As the Helm values and the image give a location: production mode on the production
    # database (here a fakesnow server), MESH_HOME for scratch files.
    production = {
        **base, **fakesnow_server,
        "MESH_ENV": "prod", "SNOWFLAKE_DATABASE": "ANALYTICS", "MESH_HOME": str(mesh_home),
    }  # fmt: skip
    with ExitStack() as stack:
        # The image build prepares dbt once; so does this (code servers never parse at import),
        # while the servers below start: it needs only the warehouse's address.
        preparing = stack.enter_context(
            background([str(BIN / "meshctl"), "dbt-prepare"], production, repo_root,
                       folder / "dbt-prepare.log")
        )  # fmt: skip
        postgres = start_postgres(folder / "pg" / "data")
        stack.callback(postgres.stop)
        import adbc_driver_postgresql.dbapi as adbc

        with adbc.connect(postgres.url(), autocommit=True) as con, con.cursor() as cur:
            cur.execute(f"create role dagster login password '{PG_PASSWORD}'")
            cur.execute("create database dagster owner dagster")
        scale = Scale(tenants=len(scenario["tenants"]), orders_per_tenant=200, seed=5)
        environ: dict[str, str] = {}
        urls = seed_tenant_databases(postgres, scale, environ)
        registry_file = folder / "tenants.yaml"
        registry_file.write_text(tenant_registry(urls, scenario["owners"], scenario["budgets"]))
        smtp_port, inbox = stack.enter_context(smtp_server())
        holds.mkdir()
        stack.enter_context(
            background(
                [sys.executable, "-c", FAKESNOW, str(snow_port), str(holds)], dict(os.environ),
                folder, folder / "fakesnow.log",
            )
        )  # fmt: skip
        bootstrap = stack.enter_context(local_broker(folder / "kafka", free_port()))
        wait_for(lambda: _listening(snow_port), 60, "fakesnow to listen")
        instance_env = {
            "DAGSTER_HOME": str(dagster_home),
            "DAGSTER_PG_USERNAME": "dagster", "DAGSTER_PG_PASSWORD": PG_PASSWORD,
            "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(postgres.port),
            "DAGSTER_PG_DB": "dagster", "DAGSTER_MAX_CONCURRENT_RUNS": str(MAX_CONCURRENT_RUNS),
            "PYTHONUNBUFFERED": "1",
        }  # fmt: skip
        location_env = {
            **production, **instance_env, **environ,
            "MESH_TENANT_REGISTRY_FILE": str(registry_file),
            "MESH_AUTOMATION_INTERVAL_SECONDS": "2",
            "MESH_SMTP_HOST": "127.0.0.1", "MESH_SMTP_PORT": str(smtp_port),
            "MESH_ALERT_EMAIL_FROM": "mesh@platform.example",
            "MESH_ALERT_TEAM_EMAIL_DOMAIN": "example.com",
            "MESH_DAGSTER_URL": "http://dagster.test",
            "MESH_KAFKA_BOOTSTRAP_SERVERS": bootstrap,  # the stream sensors run from the start
            **scenario.get("environment", {}),  # e.g. the stream's knobs, as a deployment sets
        }  # fmt: skip
        timings["servers and tenants"] = time.monotonic() - started
        if preparing.wait(300) != 0:
            raise AssertionError(
                f"meshctl dbt-prepare failed:\n{(folder / 'dbt-prepare.log').read_text()}"
            )
        write_landing(detect_environment(location_env).landing_dir, scale)
        # As `meshctl produce` does locally; in production the topics exist.
        kafka_client_from_env(location_env).ensure_topic(CLICKS.topic, STREAM_PARTITIONS)
        timings["dbt prepared"] = time.monotonic() - started

        # The instance image holds Dagster and PostgreSQL storage only; its processes need
        # nothing of the locations' environment.
        instance_proc_env = {**base, **instance_env}
        # As compose's `migrate` service, before anything opens the instance: the code servers
        # start together, and on an empty database they would race to create its tables.
        migrate = compose(locations)["services"]["migrate"]["command"]
        migrated = subprocess.run(
            [str(BIN / migrate[0]), *migrate[1:]], env=instance_proc_env, cwd=dagster_home,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert migrated.returncode == 0, f"{' '.join(migrate)} failed:\n{migrated.stderr}"
        timings["storage migrated"] = time.monotonic() - started

        ports = {loc.name: free_port() for loc in locations}
        servers = []
        for loc in locations:
            command = [
                str(BIN / "dagster"), "code-server", "start", "--host", "127.0.0.1",
                "--port", str(ports[loc.name]), "--module-name", loc.definitions_module,
                "--location-name", loc.name,
            ]  # fmt: skip
            env = {
                **location_env,
                "MESH_LOCATION": loc.name,
                "DAGSTER_GRPC_PORT": str(ports[loc.name]),
            }
            log = folder / f"code-{loc.name}.log"
            servers.append(stack.enter_context(background(command, env, repo_root, log)))
        # After the daemon and the webserver (entered later, so stopped first), the code
        # servers stop together: one grace period, not one each.
        stack.callback(stop_groups, [(server.pid, server) for server in servers], 10.0)
        # As compose's health checks: the webserver and daemon start once every server answers.
        for loc in locations:
            wait_for(lambda p=ports[loc.name]: _listening(p), 240, f"code server {loc.name}")
        timings["code servers"] = time.monotonic() - started
        workspace = dagster_home / "workspace.yaml"
        workspace.write_text(yaml.safe_dump(grpc_workspace(repo_root, ports), sort_keys=False))

        web_port = free_port()
        stack.enter_context(
            background(
                [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port),
                 "-w", str(workspace)],
                instance_proc_env, dagster_home, folder / "webserver.log",
            )
        )  # fmt: skip
        names = {loc.name for loc in locations}
        wait_for(lambda: _locations_loaded(web_port, names), 240, "every code location to load")
        stack.enter_context(
            background(
                [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
                instance_proc_env, dagster_home, folder / "daemon.log",
            )
        )  # fmt: skip
        timings["webserver"] = time.monotonic() - started
        print("\nOSS stack up: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))

        # This process reads the same instance (its storage and queue settings come from the
        # environment, like the daemon's), for as long as the stack is up.
        saved = {k: os.environ.get(k) for k in instance_env}
        stack.callback(_restore, saved)
        os.environ.update(instance_env)
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(dagster_home)))
        yield OssStack(
            repo_root, folder, location_env, instance, web_port, inbox, postgres, urls,
            registry_file, holds,
        )  # fmt: skip
        stopping = time.monotonic()
    print(f"\nOSS stack stopped in {time.monotonic() - stopping:.0f} s")
    if not request.session.testsfailed:
        shutil.rmtree(folder, ignore_errors=True)


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
