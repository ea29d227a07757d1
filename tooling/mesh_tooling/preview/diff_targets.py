"""Which tables the preview diffs, by which row key, and the local (DuckDB) run of the diff.

Diffed: every changed product and every downstream public product that is a table or a view
in the branch warehouse. Main's tables are read from main's file, attached read-only; a view
is kept as a table of its result before the rebuild (`<view>__base`, in the branch copy, whose
data is main's until then), since main's view, read from the branch session, could resolve
its names in the branch. Row keys: a product's declared `key`, else, for dbt models, the columns of their
`unique` / `unique_combination` test.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
from platform_core.identifiers import safe_identifier

from mesh_tooling.preview.clone_diff import baseline, keep_baselines
from mesh_tooling.preview.data_diff import Table, TableDiff, diff_tables

MAIN = "mesh_main"  # the main warehouse's catalog name inside the branch session


def row_keys(root: Path) -> dict[str, list[str]]:
    """asset key -> row key columns, from declarations and the dbt manifest's unique tests."""
    from platform_core.catalog import load_catalog

    keys: dict[str, list[str]] = {}
    try:
        from governance.dbt_state import unique_keys
        from platform_core.dbt.preparer import prepared_manifest
        from platform_core.dbt.project import mesh_dbt_project
        from platform_core.environment import current_environment

        env = current_environment()
        keys.update(unique_keys(prepared_manifest(mesh_dbt_project(env, root), env)))
    except ImportError:  # governance is not installed: declared keys only
        pass
    for product in load_catalog(root).products.values():
        row_key = getattr(product, "row_key", None)
        if row_key:
            keys[product.ref] = list(row_key)
    return keys


def diff_targets(
    graph: Any, changed: set[dg.AssetKey], downstream: set[dg.AssetKey]
) -> list[dg.AssetKey]:
    """Changed keys, and downstream keys whose asset is tagged visibility=public."""
    public = set()
    for defs in graph.definitions.values():
        for assets_def in defs.resolve_asset_graph().assets_defs:
            for spec in assets_def.specs:
                if spec.tags.get("visibility") == "public":
                    public.add(spec.key)
    return sorted(changed | (downstream & public), key=lambda k: k.path)


def _relations(session: Any, catalog: str) -> dict[tuple[str, str], str]:
    """`(schema, name)` -> "table" or "view" in one catalog of the session."""
    rows = session.fetch(
        "select table_schema, table_name, table_type from information_schema.tables "
        f"where table_catalog = '{safe_identifier(catalog, 'database')}'"
    )
    kinds = {"BASE TABLE": "table", "VIEW": "view"}
    return {(str(s), str(n)): kinds[str(k)] for s, n, k in rows if str(k) in kinds}


def _pairs(keys: Iterable[dg.AssetKey]) -> list[tuple[str, str]]:
    return [(k.path[0], k.path[1]) for k in keys if len(k.path) == 2]


def keep_view_baselines(
    graph: Any,
    branch_warehouse: Path,
    changed: set[dg.AssetKey],
    downstream: set[dg.AssetKey],
) -> None:
    """Before the rebuild: each target view's current result (main's) kept as a table."""
    import duckdb
    from platform_core.warehouse.duckdb import DuckDBSession

    with duckdb.connect(str(branch_warehouse)) as connection:
        session = DuckDBSession(connection)
        present = _relations(session, str(session.scalar("select current_database()")))
        targets = _pairs(diff_targets(graph, changed, downstream))
        views = [t for t in targets if present.get(t) == "view"]
        keep_baselines(session, views, set(views))


def diff_against_main(
    root: Path,
    graph: Any,
    main_warehouse: Path,
    branch_warehouse: Path,
    changed: set[dg.AssetKey],
    downstream: set[dg.AssetKey],
) -> list[TableDiff]:
    """Diff the preview's tables in the branch DuckDB file against main's, attached read-only."""
    import duckdb
    from platform_core.warehouse.duckdb import DuckDBSession

    keys = row_keys(root)
    targets = diff_targets(graph, changed, downstream)
    diffs, dropped = [], []
    with duckdb.connect(str(branch_warehouse)) as connection:
        session = DuckDBSession(connection)
        path = session.literal(str(main_warehouse))
        session.execute(f"attach {path} as {MAIN} (read_only)")
        branch_catalog = str(session.scalar("select current_database()"))
        in_branch, in_main = _relations(session, branch_catalog), _relations(session, MAIN)
        for schema, name in _pairs(targets):
            if (schema, name) not in in_branch:
                continue
            kept = baseline(schema, name)
            if (kept.schema, kept.name) in in_branch:  # a view's result before the rebuild
                base = Table(kept.schema, kept.name, branch_catalog)
                dropped.append(base)
            elif in_main.get((schema, name)) == "table":
                base = Table(schema, name, MAIN)
            else:
                base = None
            diffs.append(
                diff_tables(
                    session,
                    f"{schema}/{name}",
                    base,
                    Table(schema, name, branch_catalog),
                    keys.get(f"{schema}/{name}"),
                )
            )
        for table in dropped:  # the branch copy keeps no baseline tables
            session.execute(f"drop table {table.sql()}")
    return diffs


def keys_of(diffs: Iterable[TableDiff]) -> list[str]:
    return [d.key for d in diffs]
