"""Attacks on the branch -> production boundary, and the Snowflake identities each connection uses.

The engine-side boundary is the identity: a branch deployment connects as SNOWFLAKE_BRANCH_*,
whose role is granted on its clone only (`clones.branch_role_grants`), and it cannot open an
account session. fakesnow enforces no grants, so here we test what the project decides (which
user, role and database each connection uses, which statements are sent) and the second layer:
every attempt below, sent through the branch session, is refused before it reaches the server
(the error names the pull request, the rule and the fix) and production is unchanged after.
"""

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import snowflake.connector
from platform_core.environment import BranchWriteRefused, current_environment
from platform_core.tenancy import tenant_session
from platform_core.warehouse import SnowflakeWarehouse
from platform_core.warehouse.resources import warehouse_resources

from tests.support.processes import BIN

PR = "77"


def connect(server: dict[str, str], database: str | None = None):
    return snowflake.connector.connect(
        account=server["SNOWFLAKE_ACCOUNT"], user=server["SNOWFLAKE_USER"],
        password=server["SNOWFLAKE_PASSWORD"], host=server["SNOWFLAKE_HOST"],
        port=int(server["SNOWFLAKE_PORT"]), protocol="http", database=database,
    )  # fmt: skip


def production_state(server: dict[str, str], production: str) -> list[tuple[Any, ...]]:
    """Every table of production with its row count, read directly on the server."""
    with connect(server, production) as con, con.cursor() as cur:
        tables = cur.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema not in ('INFORMATION_SCHEMA') order by 1, 2"
        ).fetchall()
        return [
            (schema, name, cur.execute(f"select count(*) from {schema}.{name}").fetchone()[0])
            for schema, name in tables
        ]


@pytest.fixture
def branch(fakesnow_server, monkeypatch, clean_environment) -> tuple[str, SnowflakeWarehouse]:
    """A production database with data, this pull request's clone, the branch's identity."""
    production = f"PROD_{uuid.uuid4().hex[:8].upper()}"
    with connect(fakesnow_server) as con, con.cursor() as cur:
        cur.execute(f"create database {production}")
        cur.execute(f"create schema {production}.sales")
        cur.execute(f"create table {production}.sales.orders as select 1 as order_id")
        cur.execute(f"create database {production}_CLONE_{PR}")
        cur.execute(f"create schema {production}_CLONE_{PR}.sales")
    for key, value in fakesnow_server.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SNOWFLAKE_BRANCH_USER", "mesh_branch")
    monkeypatch.setenv("SNOWFLAKE_BRANCH_PASSWORD", "not-a-secret-branch")
    monkeypatch.setenv("SNOWFLAKE_BRANCH_ROLE", "MESH_BRANCH")
    monkeypatch.setenv("SNOWFLAKE_DATABASE", production)
    monkeypatch.setenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "1")
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", PR)
    current_environment.cache_clear()
    warehouse = warehouse_resources(current_environment(), "sales")["warehouse"]
    return production, warehouse.process_config_and_initialize()


ATTACKS = {
    "use database, then unqualified DDL": ["use database {prod}", "use schema {prod}.sales"],
    "qualified name in production": [
        "create table {prod}.sales.leak (a int)",
        "insert into {prod}.sales.orders select 2",
        "select * from {prod}.sales.orders",
        "create or replace table sales.copy clone {prod}.sales.orders",
        "create table sales.copy like {prod}.sales.orders",
    ],
    "comments and line breaks between name parts": [
        "create table {prod}/* hidden */.sales.leak (a int)",
        "create table {prod}\n.\nsales.leak (a int)",
        'create table "{prod}" . sales.leak (a int)',
        "create table {prod} -- comment\n.sales.leak (a int)",
    ],
    "session variables and dynamic sql": [
        "set target = '{prod}.sales.leak'",
        "unset target",
        "create table identifier($target) (a int)",
        "select * from identifier('{prod}.sales.orders')",
        "execute immediate 'create table {prod}.sales.leak (a int)'",
        "call {prod}.sales.leak_procedure()",
        "alter session set search_path = '{prod}.sales'",
    ],
    "database and account level ddl": [
        "create database {prod}_2 clone {prod}",
        "drop database {prod}",
        "alter database {prod} rename to gone",
        "undrop database {prod}",
        "create schema {prod}.leak",
        "grant all on database {prod} to role public",
        "create role escalate",
        "use role accountadmin",
    ],
    "unparseable": ["create tabel {prod}.sales.leak (a int)"],
}


@pytest.mark.parametrize("attack_class", sorted(ATTACKS))
def test_every_attack_is_refused_and_production_is_unchanged(branch, fakesnow_server, attack_class):
    production, warehouse = branch
    before = production_state(fakesnow_server, production)
    with warehouse.session() as session:
        assert session.database == f"{production}_CLONE_{PR}"
        for template in ATTACKS[attack_class]:
            sql = template.format(prod=production)
            with pytest.raises(BranchWriteRefused) as refused:
                session.execute(sql)
            message = str(refused.value)
            assert message.startswith(f"Branch deployment (pull request {PR}): refused (")
            assert "Fix:" in message, message
        # What stays in the clone still runs: unqualified schema.table names.
        session.execute("create or replace table sales.own as select 1 as x")
        assert session.fetch("select count(*) from sales.own") == [(1,)]
    assert production_state(fakesnow_server, production) == before


def test_a_dbt_database_override_builds_in_the_clone_with_the_branch_target(
    branch, fakesnow_server, repo_root, tmp_path
):
    production, _ = branch
    project = tmp_path / "dbt"
    (project / "models").mkdir(parents=True)
    shutil.copytree(repo_root / "dbt_project" / "macros", project / "macros")
    (project / "dbt_project.yml").write_text(
        "name: escape\nversion: '1.0'\nprofile: mesh\nmodels:\n  escape:\n    +schema: sales\n"
    )
    (project / "models" / "escape.sql").write_text(
        f"{{{{ config(materialized='table', database='{production}') }}}}\nselect 1 as x\n"
    )
    env = {
        **os.environ,
        "MESH_DBT_DATABASE": f"{production}_CLONE_{PR}",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    built = subprocess.run(
        [str(BIN / "dbt"), "run", "--target", "snowflake_branch", "--project-dir", str(project),
         "--profiles-dir", str(repo_root / "dbt_project")],
        env=env, capture_output=True, text=True, cwd=project,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    assert "escape" not in repr(production_state(fakesnow_server, production)).lower()
    with connect(fakesnow_server, f"{production}_CLONE_{PR}") as con, con.cursor() as cur:
        assert cur.execute("select x from sales.escape").fetchall() == [(1,)]


OPENED: list[dict[str, Any]] = []


class RecordingWarehouse(SnowflakeWarehouse):
    """The real warehouse; records what each connection was opened with (no secret)."""

    @contextmanager
    def _connect(self, database: str | None, role: str | None) -> Iterator[Any]:
        OPENED.append(self.connection_args(database, role))
        with super()._connect(database, role) as connection:
            yield connection


def test_each_connection_uses_the_identity_the_project_decides(branch, fakesnow_server):
    production, warehouse = branch
    # The branch deployment's resources carry the branch identity, never the platform's.
    assert warehouse.user == "mesh_branch" and warehouse.role == "MESH_BRANCH"
    assert os.environ["SNOWFLAKE_USER"] != warehouse.user
    recording = RecordingWarehouse(**{
        "account": "fakesnow", "user": warehouse.user, "password": "not-a-secret",
        "role": warehouse.role, "host": "127.0.0.1",
        "port": int(fakesnow_server["SNOWFLAKE_PORT"]), "protocol": "http",
    })  # fmt: skip
    OPENED.clear()
    clone = f"{production}_CLONE_{PR}"
    with recording.session() as session:
        session.execute("create schema if not exists tenant_acme")
    with tenant_session("acme", recording) as session:
        session.fetch("select 1")
    assert [
        {"user": "mesh_branch", "role": "MESH_BRANCH", "database": clone},
        {"user": "mesh_branch", "role": "TENANT_ACME_SYNC", "database": clone},  # its own role
    ] == OPENED
    outside = pytest.raises(BranchWriteRefused, match="created and dropped outside it")
    with outside, recording.account_session():
        pass
    assert len(OPENED) == 2  # refused before any connection was opened
