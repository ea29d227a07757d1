"""The per-pull-request Snowflake clone: its SQL, its jobs, its clean-up, on a fakesnow server.

fakesnow runs CREATE DATABASE ... CLONE (as an empty database) and SHOW DATABASES, but has no
DROP DATABASE (a parser error): drops go through a session that records them instead of
sending them, wrapped around the real fakesnow session for everything else.
"""

import json
import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
import snowflake.connector
from platform_core.deploy import clones
from platform_core.deploy.clone_baselines import (
    NoCloneTimeBaselines,
    keep_clone_time_baselines,
    require_clone_time_baselines,
)
from platform_core.deploy.clone_jobs import PullRequestsResource, cleanup_stale_clones
from platform_core.deploy.clone_lifecycle import clone_lifecycle
from platform_core.deploy.clone_views import ForeignView, ViewOutsideTheClone, repointed_definition
from platform_core.deploy.pull_requests import (
    GitHubPullRequests,
    PullRequestLookupError,
    PullRequestStates,
    StaticPullRequests,
)
from platform_core.environment import BranchWriteRefused, current_environment, detect_environment
from platform_core.errors import ConfigurationError
from platform_core.warehouse import SnowflakeWarehouse, WarehouseSession
from platform_core.warehouse.resources import clone_admin_warehouse, warehouse_resources

from tests.support.processes import BIN

DROPPED: list[str] = []  # statements the recording sessions received, per test (reset below)


def test_clone_sql_for_a_pull_request():
    assert clones.create_clone_sql("analytics", "42") == (
        "create database if not exists ANALYTICS_CLONE_42 clone ANALYTICS"
    )
    assert clones.drop_clone_sql("analytics_clone_42", "ANALYTICS") == (
        "drop database if exists ANALYTICS_CLONE_42"
    )


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("analytics", "Refusing to touch the production database 'ANALYTICS'"),
        ("ANALYTICS_CLONE_", "is not a pull-request clone of 'ANALYTICS'"),
        ("ANALYTICS_CLONE_1; drop database ANALYTICS", "is not a pull-request clone"),
        ("OTHER_CLONE_7", "is not a pull-request clone of 'ANALYTICS'"),
    ],
)
def test_clone_operations_refuse_anything_but_a_clone(database, message):
    with pytest.raises(clones.CloneRefused, match=message):
        clones.drop_clone_sql(database, "analytics")


def test_a_pull_request_id_that_is_not_a_number_never_reaches_sql():
    with pytest.raises(ConfigurationError, match="is not a pull request number"):
        clones.create_clone_sql("analytics", "1 clone other")


def test_clone_jobs_exist_only_where_they_belong():
    def names(environ: dict[str, str]) -> tuple[list[str], list[str]]:
        lifecycle = clone_lifecycle(detect_environment({"MESH_HOME": "/tmp/x", **environ}))
        return [j.name for j in lifecycle.jobs], [s.name for s in lifecycle.schedules]

    branch = {
        "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
        "DAGSTER_CLOUD_PULL_REQUEST_ID": "5",
        "SNOWFLAKE_DATABASE": "analytics",
    }
    assert names({}) == ([], [])
    assert names(branch) == ([], [])  # the branch never creates or drops clones
    prod = {"MESH_ENV": "prod", "SNOWFLAKE_DATABASE": "analytics"}
    assert names(prod) == (["cleanup_stale_clones"], ["cleanup_stale_clones_daily"])


def test_platform_location_has_no_clone_jobs_in_a_branch_deployment(repo_root, tmp_path):
    import mesh_platform.definitions as local  # this test process runs the local environment

    assert not {"create_branch_clone", "drop_branch_clone"} & {j.name for j in local.defs.jobs}

    probe = "import mesh_platform.definitions as d; print(sorted(j.name for j in d.defs.jobs))"
    branch = {
        **os.environ, "MESH_HOME": str(tmp_path), "SNOWFLAKE_DATABASE": "analytics",
        "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1", "DAGSTER_CLOUD_PULL_REQUEST_ID": "9",
        "SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_BRANCH_USER": "u", "SNOWFLAKE_BRANCH_PASSWORD": "p",
    }  # fmt: skip
    # As the image build does: the branch target's dbt manifest is prepared before loading.
    prepared = subprocess.run(
        [str(BIN / "meshctl"), "dbt-prepare"], env=branch, cwd=repo_root,
        capture_output=True, text=True,
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    result = subprocess.run(
        [str(BIN / "python"), "-c", probe], env=branch, cwd=repo_root,
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    jobs = [j for j in json.loads(result.stdout.replace("'", '"')) if j != "__ASSET_JOB"]
    assert jobs == []


# --- against fakesnow -----------------------------------------------------------------------


@pytest.fixture
def production(fakesnow_server, monkeypatch, clean_environment) -> str:
    """A fresh production database on the shared fakesnow server, with one table."""
    name = f"PROD_{uuid.uuid4().hex[:8].upper()}"
    for key, value in fakesnow_server.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SNOWFLAKE_DATABASE", name)
    with connect(fakesnow_server) as con, con.cursor() as cur:
        cur.execute(f"create database {name}")
        cur.execute(f"create schema {name}.sales")
        cur.execute(f"create table {name}.sales.orders as select 1 as order_id")
    DROPPED.clear()
    return name


def connect(server: dict[str, str]):
    return snowflake.connector.connect(
        account=server["SNOWFLAKE_ACCOUNT"], user=server["SNOWFLAKE_USER"],
        password=server["SNOWFLAKE_PASSWORD"], host=server["SNOWFLAKE_HOST"],
        port=int(server["SNOWFLAKE_PORT"]), protocol="http",
    )  # fmt: skip


def databases(server: dict[str, str]) -> set[str]:
    with connect(server) as con, con.cursor() as cur:
        return {row[1] for row in cur.execute("show databases").fetchall()}


def as_branch(monkeypatch, pull_request: str) -> None:
    monkeypatch.setenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "1")
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", pull_request)
    current_environment.cache_clear()


class RecordingSession(WarehouseSession):
    """The real fakesnow session, except DROP DATABASE, which fakesnow cannot parse."""

    def __init__(self, inner: WarehouseSession) -> None:
        self.inner = inner

    def execute(self, sql: str) -> None:
        if sql.lower().startswith("drop database"):
            DROPPED.append(sql)
        else:
            self.inner.execute(sql)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return self.inner.fetch(sql)

    def write_arrow(self, schema, table, data) -> None:
        raise NotImplementedError

    def columns(self, schema, table):
        return self.inner.columns(schema, table)


class RecordingWarehouse(SnowflakeWarehouse):
    @contextmanager
    def account_session(self) -> Iterator[RecordingSession]:
        with super().account_session() as session:
            yield RecordingSession(session)


def snowflake_warehouse() -> SnowflakeWarehouse:
    return warehouse_resources(current_environment(), "platform")["warehouse"]


def recording_warehouse() -> RecordingWarehouse:
    """The platform's privileged identity (what the pull-request workflow step uses)."""
    settings = {
        "account": os.environ["SNOWFLAKE_ACCOUNT"], "user": os.environ["SNOWFLAKE_USER"],
        "password": os.environ["SNOWFLAKE_PASSWORD"], "host": os.environ["SNOWFLAKE_HOST"],
        "port": int(os.environ["SNOWFLAKE_PORT"]), "protocol": "http",
    }  # fmt: skip
    return RecordingWarehouse(**settings, clone_admin=True)


@pytest.mark.slow
def test_the_workflow_creates_the_pull_requests_clone_once(
    fakesnow_server, production, monkeypatch
):
    as_branch(monkeypatch, "17")
    clone = f"{production}_CLONE_17"
    assert clone not in databases(fakesnow_server)
    admin = clone_admin_warehouse(current_environment()).process_config_and_initialize()
    outputs = []
    for _ in range(2):  # idempotent: the second run finds it and leaves it alone
        with admin.account_session() as session:
            outputs.append(str(clones.create_clone(session, current_environment())))
    assert outputs == [f"{clone}: created", f"{clone}: already existed"]
    assert clone in databases(fakesnow_server)


@pytest.mark.slow
def test_the_workflow_drops_only_its_own_clone_and_is_idempotent(
    fakesnow_server, production, monkeypatch
):
    as_branch(monkeypatch, "21")
    with recording_warehouse().account_session() as session:
        clones.create_clone(session, current_environment())
        assert str(clones.drop_clone(session, current_environment())) == (
            f"{production}_CLONE_21: dropped"
        )
    assert [f"drop database if exists {production}_CLONE_21"] == DROPPED
    as_branch(monkeypatch, "22")  # never created: dropping it again is harmless
    with recording_warehouse().account_session() as session:
        assert str(clones.drop_clone(session, current_environment())) == (
            f"{production}_CLONE_22: was absent"
        )


def test_the_branch_role_is_granted_on_its_clone_and_nothing_else():
    grants = clones.branch_role_grants("analytics_clone_5", "analytics", "mesh_branch")
    assert grants and all("ANALYTICS_CLONE_5 to role MESH_BRANCH" in g for g in grants)
    assert not [g for g in grants if re.search(r"\bANALYTICS\b(?!_CLONE_5)", g)]
    with pytest.raises(clones.CloneRefused, match="production database"):
        clones.branch_role_grants("analytics", "analytics", "mesh_branch")


@pytest.mark.slow
def test_a_branch_deployment_cannot_make_drop_or_reach_production(
    fakesnow_server, production, monkeypatch
):
    as_branch(monkeypatch, "23")
    env = current_environment()
    branch = {
        "account": "fakesnow", "user": "mesh_branch", "password": "not-a-secret",
        "host": "127.0.0.1", "port": int(fakesnow_server["SNOWFLAKE_PORT"]), "protocol": "http",
    }  # fmt: skip
    with (
        pytest.raises(BranchWriteRefused),
        SnowflakeWarehouse(**branch, database_override=production).session(),
    ):
        pass
    # The branch identity opens no account session: clones are made outside the branch.
    outside = pytest.raises(BranchWriteRefused, match="created and dropped outside it")
    with outside, SnowflakeWarehouse(**branch).account_session():
        pass
    # The admin session (the workflow's) still refuses production's clean-up in a branch.
    production_only = pytest.raises(ConfigurationError, match="runs in the production deployment")
    with recording_warehouse().account_session() as session, production_only:
        clones.cleanup_stale_clones(session, env, StaticPullRequests(), 7)


@pytest.mark.slow
def test_meshctl_clone_create_runs_as_the_workflow_step_does(fakesnow_server, production, tmp_path):
    env = {
        **os.environ, **fakesnow_server, "SNOWFLAKE_DATABASE": production,
        "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1", "DAGSTER_CLOUD_PULL_REQUEST_ID": "31",
        "MESH_HOME": str(tmp_path),
    }  # fmt: skip
    result = subprocess.run(
        [str(BIN / "meshctl"), "clone", "create"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{production}_CLONE_31: created"
    assert f"{production}_CLONE_31" in databases(fakesnow_server)

    local = {k: v for k, v in env.items() if not k.startswith("DAGSTER_CLOUD")}
    refused = subprocess.run(
        [str(BIN / "meshctl"), "clone", "create"], env=local, capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert "the local environment has no Snowflake clone" in refused.stderr


class FixedPullRequests(PullRequestsResource):
    """Stands in for the GitHub API (unreachable here) behind the same resource interface."""

    closed_days_ago: dict[str, int | None]

    def states(self) -> PullRequestStates:
        now = datetime.now(UTC)
        return StaticPullRequests(
            {
                int(number): None if days is None else now - timedelta(days=days)
                for number, days in self.closed_days_ago.items()
            }
        )


@pytest.mark.slow
def test_cleanup_drops_clones_of_pull_requests_closed_more_than_n_days_ago(
    fakesnow_server, production, monkeypatch
):
    with connect(fakesnow_server) as con, con.cursor() as cur:
        for number in (1, 2, 3, 4):
            cur.execute(clones.create_clone_sql(production, str(number)))
        cur.execute(f"create database {production}_CLONE_NOTES")  # not a clone name: ignored
    monkeypatch.setenv("MESH_ENV", "prod")
    current_environment.cache_clear()

    states = FixedPullRequests(closed_days_ago={"1": 10, "2": None, "3": 1})  # 4: unknown
    with recording_warehouse().account_session() as session:
        plan = clones.plan_cleanup(session, production, states.states(), 7)
    assert plan.drop == [f"{production}_CLONE_1"]
    recent = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    assert plan.keep == {
        f"{production}_CLONE_2": "pull request open",
        f"{production}_CLONE_3": f"closed {recent}, within 7 days",
        f"{production}_CLONE_4": "state unknown (pull request #4: unknown)",
    }

    # The scheduled job, end to end, with a shorter threshold from its run config.
    recording = recording_warehouse()
    result = cleanup_stale_clones.execute_in_process(
        resources={"warehouse": recording, "pull_requests": states},
        run_config={"ops": {"drop_stale_clones": {"config": {"closed_for_days": 0}}}},
    )
    assert result.success
    expected = [f"{production}_CLONE_1", f"{production}_CLONE_3"]
    assert result.output_for_node("drop_stale_clones") == expected
    assert [f"drop database if exists {clone}" for clone in expected] == DROPPED


# --- the GitHub API client, against a local HTTP server -------------------------------------


class FakeGitHub(BaseHTTPRequestHandler):
    pulls: ClassVar[dict[str, dict[str, str | None]]] = {
        "5": {"state": "closed", "closed_at": "2026-11-01T03:04:05Z"},
        "6": {"state": "open", "closed_at": None},
    }
    seen_auth: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen_auth.append(self.headers.get("Authorization", ""))
        number = self.path.rsplit("/", 1)[-1]
        body = self.pulls.get(number)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body or {"message": "Not Found"}).encode())

    def log_message(self, *args) -> None:
        pass


def test_github_pull_request_states_over_http():
    server = HTTPServer(("127.0.0.1", 0), FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        github = GitHubPullRequests(
            "acme/mesh", "test-token", f"http://127.0.0.1:{server.server_port}"
        )
        assert github.closed_at(5) == datetime(2026, 11, 1, 3, 4, 5, tzinfo=UTC)
        assert github.closed_at(6) is None
        with pytest.raises(PullRequestLookupError, match="#7"):
            github.closed_at(7)
        assert FakeGitHub.seen_auth[-1] == "Bearer test-token"
    finally:
        server.shutdown()

    with pytest.raises(ConfigurationError, match="GITHUB_REPOSITORY"):
        GitHubPullRequests.from_environment({"GITHUB_TOKEN": "x"})


def view_definitions(server: dict[str, str], clone: str) -> dict[str, str]:
    with connect(server) as con, con.cursor() as cur:
        rows = cur.execute(
            f"select table_schema, table_name, view_definition from {clone}.information_schema.views"
        ).fetchall()
    return {f"{s}.{n}".lower(): d for s, n, d in rows}


@pytest.mark.slow
def test_the_clone_step_repoints_views_that_read_production_into_the_clone(
    fakesnow_server, production, monkeypatch
):
    """A Snowflake clone keeps view text as written, and dbt writes fully qualified names: the
    cloned view reads production. The clone step re-creates such views inside the clone."""
    as_branch(monkeypatch, "31")
    clone = f"{production}_CLONE_31"
    with connect(fakesnow_server) as con, con.cursor() as cur:
        # The clone as Snowflake would leave it (fakesnow's clone is empty): its own orders
        # (a marker row production lacks), and views whose text still names production.
        cur.execute(f"create database {clone}")
        cur.execute(f"create schema {clone}.sales")
        cur.execute(f"create schema {clone}.marketing")
        cur.execute(f"create table {clone}.sales.orders as select 2 as order_id")
        cur.execute(
            f"create view {clone}.marketing.orders_seen as "
            f"select o.order_id from {production}.sales.orders as o"
        )
        cur.execute(f"create view {clone}.marketing.in_clone as select 3 as order_id")
        # The hazard is real: the clone's view serves production's row.
        assert cur.execute(f"select order_id from {clone}.marketing.orders_seen").fetchall() == [
            (1,)
        ]
    admin = clone_admin_warehouse(current_environment()).process_config_and_initialize()
    with admin.account_session() as session:
        result = clones.create_clone(session, current_environment())
    assert result.repointed == ("marketing.orders_seen",)
    assert "views re-pointed from production into it: marketing.orders_seen" in str(result)
    definitions = view_definitions(fakesnow_server, clone)
    assert set(definitions) == {"marketing.orders_seen", "marketing.in_clone"}
    assert not [d for d in definitions.values() if re.search(rf"\b{production}\b", d, re.I)]
    with connect(fakesnow_server) as con, con.cursor() as cur:
        assert cur.execute(f"select order_id from {clone}.marketing.orders_seen").fetchall() == [
            (2,)
        ]
    # Idempotent: nothing is left to re-point.
    with admin.account_session() as session:
        assert clones.create_clone(session, current_environment()).repointed == ()


@pytest.mark.slow
def test_a_clone_view_that_reads_a_third_database_is_refused_before_anything_changes(
    fakesnow_server, production, monkeypatch
):
    as_branch(monkeypatch, "32")
    clone, other = f"{production}_CLONE_32", f"{production}_SHARED"
    with connect(fakesnow_server) as con, con.cursor() as cur:
        cur.execute(f"create database {other}")
        cur.execute(f"create schema {other}.ref")
        cur.execute(f"create table {other}.ref.rates as select 1.1 as rate")
        cur.execute(f"create database {clone}")
        cur.execute(f"create schema {clone}.finance")
        cur.execute(
            f"create view {clone}.finance.a as select 1 as x from {production}.sales.orders"
        )
        cur.execute(f"create view {clone}.finance.b as select rate from {other}.ref.rates")
    before = view_definitions(fakesnow_server, clone)
    admin = clone_admin_warehouse(current_environment()).process_config_and_initialize()
    with (
        pytest.raises(ViewOutsideTheClone, match=rf"finance\.b reads {other}, a database outside"),
        admin.account_session() as session,
    ):
        clones.create_clone(session, current_environment())
    assert view_definitions(fakesnow_server, clone) == before  # finance.a was not touched either


def test_a_clone_view_that_cannot_be_parsed_is_not_trusted():
    view = ForeignView("sales", "v", ("ANALYTICS",), "create view sales.v as select from from")
    with pytest.raises(ViewOutsideTheClone, match=r"sales\.v cannot be checked"):
        repointed_definition(view, "ANALYTICS_CLONE_1", "ANALYTICS")
    qualified = ForeignView(
        "SALES", "V", ("ANALYTICS",),
        'create view "ANALYTICS"."SALES"."V" as select analytics.sales.orders.id '
        "from ANALYTICS.sales.orders join sales.items using (id)",
    )  # fmt: skip
    sql = repointed_definition(qualified, "analytics_clone_1", "analytics")
    assert (
        sql.upper().replace('"', "").startswith("CREATE OR REPLACE VIEW ANALYTICS_CLONE_1.SALES.V ")
    )
    assert not re.search(r"\bANALYTICS\b(?!_CLONE_1)", sql, re.I), sql


@pytest.mark.slow
def test_the_clone_keeps_its_clone_time_baselines_whatever_the_branch_builds_later(
    fakesnow_server, production, monkeypatch
):
    as_branch(monkeypatch, "33")
    clone = f"{production}_CLONE_33"
    with connect(fakesnow_server) as con, con.cursor() as cur:
        cur.execute(f"create database {clone}")  # as the clone step leaves it on Snowflake
        cur.execute(f"create schema {clone}.sales")
        cur.execute(f"create table {clone}.sales.orders as select 1 as order_id")
        cur.execute(f"create view {clone}.sales.order_ids as select order_id from sales.orders")
    admin = clone_admin_warehouse(current_environment()).process_config_and_initialize()
    with admin.account_session() as session:
        # A clone without the record (made before the clone step kept baselines): refused.
        with pytest.raises(NoCloneTimeBaselines, match=r"Fix: make the clone again"):
            require_clone_time_baselines(session, clone)
        assert keep_clone_time_baselines(session, clone) == 2
        require_clone_time_baselines(session, clone)
        # The branch deployment builds before the first preview: the baselines stay production's.
        session.execute(f"create or replace table {clone}.sales.orders as select 7 as order_id")
        assert keep_clone_time_baselines(session, clone) == 0  # kept once, never replaced
        assert session.fetch(f"select order_id from {clone}.sales.orders__base") == [(1,)]
        assert session.fetch(f"select order_id from {clone}.sales.order_ids__base") == [(1,)]
        assert session.fetch(f"select order_id from {clone}.sales.order_ids") == [(7,)]
