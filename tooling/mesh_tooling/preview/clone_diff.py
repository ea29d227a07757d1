"""The preview inside a branch deployment's Snowflake clone: the clone is its own baseline.

Before a changed product is rebuilt in the clone, its current table (production's data, as
cloned) is kept as `<schema>.<table>__base`, a zero-copy clone inside the clone database;
after the rebuild the diff compares the two, in the clone. Baselines stay in the clone (they
go with it when the pull request closes), so every push is compared with production's data. Every statement names
`schema.table` only: the session is bound to the clone, and the branch never names, let alone
reads, the production database (its SnowflakeSession refuses SQL that does).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from platform_core.identifiers import qualified, safe_identifier
from platform_core.warehouse.base import WarehouseSession

from mesh_tooling.preview.data_diff import Table, TableDiff, diff_tables

BASE_SUFFIX = "__base"


def baseline(schema: str, name: str) -> Table:
    return Table(schema, f"{safe_identifier(name, 'table')}{BASE_SUFFIX}")


def keep_baselines(session: WarehouseSession, tables: Iterable[tuple[str, str]]) -> list[Table]:
    """Zero-copy clone each existing `schema.table` to its baseline, unless one was kept by an
    earlier preview of the pull request: then the table in the clone is that preview's build,
    and the baseline (the table as cloned from production) stays what later pushes compare
    with. Returns the baselines."""
    kept = []
    for schema, name in tables:
        if not session.columns(schema, name):
            continue  # a new product: nothing to compare with
        base = baseline(schema, name)
        if not session.columns(base.schema, base.name):
            session.execute(
                f"create table {qualified(base.schema, base.name)} clone {qualified(schema, name)}"
            )
        kept.append(base)
    return kept


def diff_in_clone(
    session: WarehouseSession,
    tables: Iterable[tuple[str, str]],
    row_keys: Mapping[str, list[str]],
) -> list[TableDiff]:
    """Diff every rebuilt `schema.table` against its kept baseline, in Snowflake's dialect."""
    diffs = []
    for schema, name in tables:
        base = baseline(schema, name)
        key = f"{schema}/{name}"
        diffs.append(
            diff_tables(
                session,
                key,
                base if session.columns(base.schema, base.name) else None,
                Table(schema, name),
                row_keys.get(key),
                dialect="snowflake",
            )
        )
    return diffs
