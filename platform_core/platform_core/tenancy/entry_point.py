"""The governed entry point to tenant data: one SELECT over every validated tenant's schema.

Downstream domains never list tenant schemas: they read platform/tenant_* products, which this
builds from the `tenancy.synced` control table, adding the `tenant_id` column. A tenant whose
last sync or checks failed validation is left out, so its problem blocks only its own rows.

This runs under the platform's session. Locally each tenant's data is its own DuckDB file,
attached here READ_ONLY (the union can read a tenant store, never change it); on Snowflake the
platform role has SELECT on every tenant schema (see `isolation.tenant_grants_plan`).
"""

from __future__ import annotations

from collections.abc import Sequence

from platform_core.errors import ConfigurationError
from platform_core.identifiers import qualified, safe_identifier
from platform_core.tenancy.sync import CONTROL_SCHEMA, CONTROL_TABLE
from platform_core.warehouse.base import WarehouseSession
from platform_core.warehouse.duckdb import DuckDBSession


def validated_tenants(session: WarehouseSession) -> list[tuple[str, str]]:
    """(tenant id, schema) of every tenant whose current copy passed validation."""
    if not session.columns(CONTROL_SCHEMA, CONTROL_TABLE):
        return []
    rows = session.fetch(
        f"select tenant_id, schema_name from {qualified(CONTROL_SCHEMA, CONTROL_TABLE)} "
        "where validated order by tenant_id"
    )
    return [(safe_identifier(t, "tenant id"), safe_identifier(s, "schema")) for t, s in rows]


def all_tenants_sql(session: WarehouseSession, table: str, columns: Sequence[str]) -> str:
    """SELECT `columns` of `table` across validated tenants; `tenant_id` is filled in."""
    tenants = validated_tenants(session)
    if not tenants:
        raise ConfigurationError(
            f"No tenant has a validated copy of '{table}' yet. Fix: run the tenant_sync location "
            "(`meshctl materialize` runs it first) and look at its failed checks."
        )
    duckdb = isinstance(session, DuckDBSession)
    if duckdb:
        try:
            session.attach_read_only([schema for _, schema in tenants])
        except FileNotFoundError as missing:
            raise ConfigurationError(
                f"The control table lists a validated tenant whose store {missing} is missing. "
                "Fix: re-run that tenant's partition of tenant_sync."
            ) from None
    selects = []
    for tenant_id, schema in tenants:
        projected = ", ".join(
            f"'{tenant_id}' as tenant_id" if c == "tenant_id" else safe_identifier(c, "column")
            for c in columns
        )
        name = (
            f"{schema}.main.{safe_identifier(table, 'table')}"
            if duckdb
            else qualified(schema, table)
        )
        selects.append(f"select {projected} from {name}")
    return "\nunion all\n".join(selects)
