"""Which tables the preview diffs, by which row key, and the local (DuckDB) run of the diff.

Diffed: every changed product and every downstream public product that is a table in the
branch warehouse (views are a domain's plumbing; their effect shows in the tables built on
them). Row keys: a product's declared `key`, else, for dbt models, the columns of their
`unique` / `unique_combination` test.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
from platform_core.identifiers import safe_identifier

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


def _tables(session: Any, catalog: str | None) -> set[tuple[str, str]]:
    where = f"table_catalog = '{safe_identifier(catalog, 'database')}' and " if catalog else ""
    rows = session.fetch(
        "select table_schema, table_name from information_schema.tables "
        f"where {where}table_type = 'BASE TABLE'"
    )
    return {(str(s), str(t)) for s, t in rows}


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
    diffs = []
    with duckdb.connect(str(branch_warehouse)) as connection:
        session = DuckDBSession(connection)
        path = session.literal(str(main_warehouse))
        session.execute(f"attach {path} as {MAIN} (read_only)")
        branch_catalog = str(session.scalar("select current_database()"))
        in_branch, in_main = _tables(session, branch_catalog), _tables(session, MAIN)
        for key in targets:
            if len(key.path) != 2:
                continue
            schema, name = key.path
            if (schema, name) not in in_branch:
                continue
            base = Table(schema, name, MAIN) if (schema, name) in in_main else None
            diffs.append(
                diff_tables(
                    session,
                    key.to_user_string(),
                    base,
                    Table(schema, name, branch_catalog),
                    keys.get(key.to_user_string()),
                )
            )
    return diffs


def keys_of(diffs: Iterable[TableDiff]) -> list[str]:
    return [d.key for d in diffs]
