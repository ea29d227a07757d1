"""The preview inside a branch deployment's Snowflake clone: the clone is its own baseline.

The clone step keeps, right after the clone is made, each table's and view's state as
`<schema>.<name>__base` (platform_core.deploy.clone_baselines): production's data as cloned,
whatever the branch deployment builds later. After the rebuild the diff compares a product
with its baseline, in the clone; a product without one did not exist at clone time (new).
Baselines stay in the clone (they go with it when the pull request closes), so every push is
compared with production's data. Every statement names `schema.table` only: the session is
bound to the clone, and the branch never names, let alone reads, the production database (its
SnowflakeSession refuses SQL that does; views that did are re-pointed first, see
platform_core.deploy.clone_views). `keep_baselines` is the local preview's (DuckDB views).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from platform_core.deploy.clone_baselines import baseline_name
from platform_core.identifiers import qualified
from platform_core.warehouse.base import WarehouseSession

from mesh_tooling.preview.data_diff import Table, TableDiff, diff_tables


def baseline(schema: str, name: str) -> Table:
    return Table(schema, baseline_name(name))


def keep_baselines(
    session: WarehouseSession,
    tables: Iterable[tuple[str, str]],
    views: Collection[tuple[str, str]] = (),
) -> list[Table]:
    """Keep the baseline of each existing `schema.table` (a zero-copy clone; for one of `views`,
    a table of the view's current result), unless an earlier preview of the pull request kept
    one: then the relation in the clone is that preview's build, and the baseline (as cloned
    from production) stays what later pushes compare with. Returns the baselines."""
    kept = []
    for schema, name in tables:
        if not session.columns(schema, name):
            continue  # a new product: nothing to compare with
        base = baseline(schema, name)
        if not session.columns(base.schema, base.name):
            source = qualified(schema, name)
            how = f"as select * from {source}" if (schema, name) in views else f"clone {source}"
            session.execute(f"create table {qualified(base.schema, base.name)} {how}")
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
