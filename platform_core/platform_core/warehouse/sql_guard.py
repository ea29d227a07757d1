"""The second layer behind engine isolation: every statement parsed (sqlglot) and checked.

The engine is the boundary (a DuckDB store per tenant with its locks; Snowflake roles and
credentials). This layer refuses, before a statement reaches the engine, whatever it cannot
prove stays inside the session's own scope: a statement it cannot parse, a statement kind it
does not know to be harmless, a name outside the scope, dynamic SQL, variables, file and
catalog functions. It never guesses: unknown means refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")

# Functions that run SQL given as text, read settings or variables, touch files or list the
# catalog. The engine locks most of them too (external access off); the layer names the rule.
_DENIED_FUNCTIONS = {
    "query",
    "query_table",
    "getvariable",
    "current_setting",
    "glob",
    "dynamic_identifier",
    "identifier",
    "which_secret",
    "getenv",
}
_DENIED_PREFIXES = (
    "read_",
    "sniff_",
    "duckdb_",
    "pragma_",
    "parquet_",
    "iceberg_",
    "delta_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "system$",
    "json_execute",
)
# Table-valued functions that produce values and read nothing.
_VALUE_TABLE_FUNCTIONS = (exp.GenerateSeries, exp.Unnest, exp.Explode)


@dataclass(frozen=True)
class Refusal:
    """Why a statement was refused: the rule broken, what in the SQL broke it, and the fix."""

    rule: str
    detail: str
    fix: str


def parse_statements(sql: str, dialect: str) -> list[exp.Expression] | Refusal:
    """Every statement of `sql`, or a Refusal when any part cannot be parsed."""
    try:
        trees = sqlglot.parse(sql, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    except ParseError as error:
        return Refusal(
            "unparseable SQL",
            str(error).splitlines()[0][:160],
            "write plain SQL the session can parse; nothing it cannot read is run",
        )
    statements = [tree for tree in trees if tree is not None]
    for statement in statements:
        if isinstance(statement, exp.Command):  # sqlglot's fallback for syntax it does not model
            return Refusal(
                "statement kind not allowed",
                f"{statement.name.upper()} {str(statement.expression or '')[:60]}".strip(),
                "use SELECT, INSERT, UPDATE, DELETE, CREATE/DROP TABLE or VIEW",
            )
    return statements


def function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def denied_function(statement: exp.Expression) -> Refusal | None:
    for node in statement.find_all(exp.Func):
        name = function_name(node)
        if name in _DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES):
            return Refusal(
                "dynamic SQL, variable, file or catalog function",
                f"{name}(...)",
                "name tables directly; files, variables and the catalog are not reachable",
            )
    for node in statement.find_all(exp.Parameter, exp.Placeholder, exp.SessionParameter):
        return Refusal(
            "session variable or parameter",
            node.sql()[:60],
            "write the value into the statement; variables can redirect names",
        )
    return None


def cte_names(statement: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}


def table_references(statement: exp.Expression) -> Iterator[exp.Table]:
    yield from statement.find_all(exp.Table)


def value_table_function(table: exp.Table) -> bool:
    return isinstance(table.this, _VALUE_TABLE_FUNCTIONS)


def plain_name(name: str) -> bool:
    return bool(_PLAIN_NAME.fullmatch(name))


def first_refusal(
    sql: str, dialect: str, check: Callable[[exp.Expression], Refusal | None]
) -> Refusal | None:
    """Parse `sql` and run `check` over each statement; the first refusal, if any."""
    parsed = parse_statements(sql, dialect)
    if isinstance(parsed, Refusal):
        return parsed
    if not parsed:
        return Refusal("empty statement", repr(sql[:40]), "send one SQL statement")
    for statement in parsed:
        refusal = denied_function(statement) or check(statement)
        if refusal is not None:
            return refusal
    return None


# Statement kinds every guarded session may run: queries, DML and transaction control.
QUERIES_AND_DML: tuple[type[exp.Expression], ...] = (
    exp.Query,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Describe,
)


def ddl_kind(statement: exp.Expression) -> str | None:
    """The object kind of a CREATE/DROP/ALTER (`TABLE`, `SCHEMA`...); None for other statements."""
    if not isinstance(statement, exp.Create | exp.Drop | exp.Alter):
        return None
    return str(statement.args.get("kind") or "").upper()


def statement_kind_refusal(
    statement: exp.Expression,
    allowed: tuple[type[exp.Expression], ...],
    object_kinds: set[str],
    rule: str,
    fix: str,
) -> Refusal | None:
    """A Refusal unless `statement` is one of `allowed` or DDL on one of `object_kinds`."""
    kind = ddl_kind(statement)
    if isinstance(statement, allowed) or (kind is not None and kind in object_kinds):
        return None
    named_kind = str(statement.args.get("kind") or "").upper()  # USE DATABASE, SHOW TABLES...
    detail = f"{type(statement).__name__.upper()} {named_kind}".strip()
    return Refusal(rule, detail, fix)
