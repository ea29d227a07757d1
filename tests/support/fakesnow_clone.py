"""Test-only: a fakesnow clone filled as Snowflake's CREATE DATABASE ... CLONE would fill it.

fakesnow runs `create database <clone> clone <production>` (what `meshctl clone create` sends)
but makes an EMPTY database (see /work/shared/TOOLCHAIN.md). Snowflake copies every schema,
table and view. After the real clone step, this copies them with what fakesnow does run:
`create table <clone>.s.t clone <production>.s.t` per table, and each view's definition
replayed inside the clone (in dependency order). Production code never calls it; the
statements are sent by the platform's identity, outside the branch, as the clone step is.
"""

from typing import Any

import snowflake.connector
import sqlglot
from platform_core.identifiers import safe_identifier
from sqlglot import exp


def _connect(server: dict[str, str], database: str) -> Any:
    return snowflake.connector.connect(
        account=server["SNOWFLAKE_ACCOUNT"], user=server["SNOWFLAKE_USER"],
        password=server["SNOWFLAKE_PASSWORD"], host=server["SNOWFLAKE_HOST"],
        port=int(server["SNOWFLAKE_PORT"]), protocol="http", database=database,
    )  # fmt: skip


def fill_clone(server: dict[str, str], production: str, clone: str) -> None:
    production = safe_identifier(production.lower(), "database").upper()
    clone = safe_identifier(clone.lower(), "database").upper()
    with _connect(server, production) as source, source.cursor() as cur:
        tables = cur.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_catalog = '{production}' and table_type = 'BASE TABLE'"
        ).fetchall()
        views = cur.execute(
            "select table_schema, view_definition from information_schema.views "
            f"where table_catalog = '{production}'"
        ).fetchall()
    with _connect(server, clone) as target, target.cursor() as cur:
        for schema in {s for s, _ in tables} | {s for s, _ in views}:
            cur.execute(f"create schema if not exists {clone}.{safe_identifier(schema.lower())}")
        for schema, name in tables:
            table = f"{safe_identifier(schema.lower())}.{safe_identifier(name.lower())}"
            cur.execute(f"create or replace table {clone}.{table} clone {production}.{table}")
        pending = [definition.rstrip().rstrip(";") for _, definition in views]
        while pending:  # a view can only be made after the views it reads
            failed = []
            for definition in pending:
                try:
                    cur.execute(definition)  # `create view schema.name as ...`: in the clone
                except snowflake.connector.errors.ProgrammingError:
                    failed.append(definition)
            if len(failed) == len(pending):
                raise AssertionError(f"fakesnow could not re-create views in {clone}: {failed}")
            pending = failed


def name_production_in_views(server: dict[str, str], production: str, clone: str) -> list[str]:
    """The clone's views as a Snowflake clone keeps them: with the names dbt wrote in
    production, `<production>.schema.table` (fakesnow stores a view's text without its own
    database's name, so the replayed views read the clone). Returns the `schema.name` of the
    views it changed."""
    production = safe_identifier(production.lower(), "database").upper()
    clone = safe_identifier(clone.lower(), "database").upper()
    with _connect(server, clone) as target, target.cursor() as cur:
        views = cur.execute(
            "select table_schema, table_name, view_definition from information_schema.views "
            f"where table_catalog = '{clone}'"
        ).fetchall()
        named = []
        for schema, name, definition in views:
            statement = sqlglot.parse_one(definition, read="snowflake")
            tables = [t for t in statement.expression.find_all(exp.Table) if t.db and not t.catalog]
            if not tables:  # reads no schema.table (a CTE or constants only)
                continue
            for table in tables:
                table.set("catalog", exp.to_identifier(production))
            statement.set("replace", True)
            cur.execute(statement.sql(dialect="snowflake"))
            named.append(f"{schema}.{name}".lower())
    return sorted(named)
