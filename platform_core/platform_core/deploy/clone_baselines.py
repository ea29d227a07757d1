"""The preview's baselines, kept in a pull request's clone when the clone is made.

The in-clone preview compares a rebuilt product with its baseline, `<schema>.<name>__base`.
Taken at the first preview, a baseline would be whatever the clone held then: if the branch
deployment had already built the product, the branch's own data, and the diff would show
nothing. So the clone step keeps them right after the clone is made, while the clone still
holds production's data: a zero-copy clone of every table, and a table of every view's result
(views read the clone, see platform_core.deploy.clone_views). It then records that it did in
`mesh_preview.clone_baselines`; the preview trusts only baselines so recorded, and refuses a
clone without the record (made before this, or by hand) with the fix: make the clone again.
A relation without a baseline did not exist at clone time: the branch made it (new).
"""

from __future__ import annotations

from platform_core.errors import ConfigurationError
from platform_core.identifiers import safe_identifier
from platform_core.warehouse.base import WarehouseSession

BASE_SUFFIX = "__base"
RECORD_SCHEMA, RECORD_TABLE = "mesh_preview", "clone_baselines"


class NoCloneTimeBaselines(ConfigurationError):
    """The clone has no baselines kept when it was made."""


def baseline_name(name: str) -> str:
    return f"{safe_identifier(name, 'table')}{BASE_SUFFIX}"


def _relations(session: WarehouseSession, database: str) -> dict[tuple[str, str], str]:
    """`(schema, name)` -> "table" or "view" (views from information_schema.views: fakesnow
    does not list them among the tables)."""
    found = {}
    for kind, sql in (
        ("table", f"select table_schema, table_name from {database}.information_schema.tables "
         f"where table_type = 'BASE TABLE' and table_catalog = '{database}'"),
        ("view", f"select table_schema, table_name from {database}.information_schema.views "
         f"where table_catalog = '{database}'"),
    ):  # fmt: skip
        for schema, name in session.fetch(sql):
            if str(schema).upper() != "INFORMATION_SCHEMA":
                found[(str(schema).lower(), str(name).lower())] = kind
    return found


def keep_clone_time_baselines(session: WarehouseSession, clone: str) -> int:
    """Keep the baseline of every table and view of `clone` (unless kept already), then record
    that the clone's baselines are its clone-time state. Returns how many were kept."""
    database = safe_identifier(clone.lower(), "database").upper()
    relations = _relations(session, database)
    kept = 0
    for (schema, name), kind in sorted(relations.items()):
        if schema == RECORD_SCHEMA or name.endswith(BASE_SUFFIX):
            continue
        if (schema, baseline_name(name)) in relations:
            continue
        source = f"{database}.{safe_identifier(schema, 'schema')}.{safe_identifier(name, 'table')}"
        target = f"{database}.{schema}.{baseline_name(name)}"
        how = f"clone {source}" if kind == "table" else f"as select * from {source}"
        session.execute(f"create table {target} {how}")
        kept += 1
    session.execute(f"create schema if not exists {database}.{RECORD_SCHEMA}")
    session.execute(
        f"create table if not exists {database}.{RECORD_SCHEMA}.{RECORD_TABLE} "
        "(kept_at timestamp_ntz, baselines integer)"
    )
    session.execute(
        f"insert into {database}.{RECORD_SCHEMA}.{RECORD_TABLE} "
        f"select current_timestamp(), {int(kept)}"
    )
    return kept


def require_clone_time_baselines(session: WarehouseSession, clone: str) -> None:
    """Refuse a clone whose baselines were not kept when it was made (the preview would
    otherwise take them now, possibly from the branch's own builds)."""
    database = safe_identifier(clone.lower(), "database").upper()
    if (RECORD_SCHEMA, RECORD_TABLE) not in _relations(session, database):
        raise NoCloneTimeBaselines(
            f"The clone {database} has no baselines kept when it was made (no "
            f"{RECORD_SCHEMA}.{RECORD_TABLE}), so the preview cannot tell production's data "
            "from what the branch deployment has built there since: the diff could show the "
            "branch against itself. Fix: make the clone again (`meshctl clone drop`, then "
            "`meshctl clone create`, which keeps the baselines), then run the preview."
        )
