"""Local tenant databases: one PostgreSQL database per tenant, seeded from the sample data.

Each tenant `t001` gets role `tenant_t001` and database `tenant_t001` owned by it, with CONNECT
revoked from PUBLIC: one tenant's credentials cannot open another tenant's database. The tables
hold the tenant's slice of `mesh_tooling.sample.data` without a tenant_id column (an
application database does not know which tenant it is); the sync adds it downstream.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict

import pyarrow as pa
import pyarrow.compute as pc
from platform_core.identifiers import safe_identifier
from platform_core.tenancy.registry import source_env_name
from platform_core.tenancy.source import SYNCED_TABLES

from mesh_tooling.sample.data import Scale, generate
from mesh_tooling.servers.postgres import LocalPostgres

# The tables of a tenant's application database, as its application creates them.
TENANT_TABLES_DDL = {
    "customers": "customer_id bigint primary key, email text, country text, created_at timestamp",
    "products": "product_id bigint primary key, name text, category text, "
    "unit_price numeric(10, 2) not null",
    "orders": "order_id bigint primary key, customer_id bigint not null, "
    "product_id bigint not null, quantity bigint not null, status text not null, "
    "ordered_at timestamp not null",
}
assert tuple(TENANT_TABLES_DDL) == SYNCED_TABLES, "seed every table tenant sync copies"
_SAMPLE_SOURCE_VAR = re.compile(r"TENANT_T[0-9]{3}_DB_URL")


def source_env_var(tenant_id: str) -> str:
    """The variable holding a tenant's database URL (the registry's convention: source_env
    must be exactly this name)."""
    return source_env_name(safe_identifier(tenant_id, "tenant id"))


def _execute(url: str, statements: list[str], autocommit: bool = True) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url, autocommit=autocommit) as connection, connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def create_tenant_database(server: LocalPostgres, tenant_id: str) -> str:
    """(Re)create the tenant's role and database; returns the URL the tenant's sync uses."""
    name = f"tenant_{safe_identifier(tenant_id, 'tenant id')}"
    _execute(
        server.url(),
        [
            f"drop database if exists {name} with (force)",
            f"drop role if exists {name}",
            f"create role {name} login",
            f"create database {name} owner {name}",
            f"revoke connect on database {name} from public",
        ],
    )
    return server.url(name, user=name)


def load_tenant_tables(url: str, tables: Mapping[str, pa.Table]) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as connection, connection.cursor() as cursor:
        for table, data in tables.items():
            cursor.execute(f"create table {safe_identifier(table)} ({TENANT_TABLES_DDL[table]})")
            cursor.adbc_ingest(table, data, mode="append")
        connection.commit()


def tenant_slices(scale: Scale) -> dict[str, dict[str, pa.Table]]:
    """Per tenant id, its customers/products/orders (tenant_id column dropped)."""
    data = generate(scale)
    slices: dict[str, dict[str, pa.Table]] = {}
    for tenant_id in data["tenants"]["tenant_id"].to_pylist():
        slices[tenant_id] = {
            table: data[table]
            .filter(pc.equal(data[table]["tenant_id"], tenant_id))
            .drop_columns(["tenant_id"])
            for table in SYNCED_TABLES
        }
    return slices


def seed_tenant_databases(
    server: LocalPostgres, scale: Scale, environ: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """One database per sample tenant (skipped if already seeded at `scale`).

    Sets each tenant's source variable in `environ` (default os.environ) and returns
    {tenant id: URL}.
    """
    environ = os.environ if environ is None else environ
    marker = server.data_dir.parent / f"{server.data_dir.name}.seeded.json"
    tenant_ids = [f"t{i:03d}" for i in range(1, scale.tenants + 1)]
    urls = {t: server.url(f"tenant_{t}", user=f"tenant_{t}") for t in tenant_ids}
    if not (marker.is_file() and json.loads(marker.read_text()) == asdict(scale)):
        for tenant_id, tables in tenant_slices(scale).items():
            load_tenant_tables(create_tenant_database(server, tenant_id), tables)
        marker.write_text(json.dumps(asdict(scale)))
    point_sample_sources(urls, environ)
    return urls


def point_sample_sources(urls: Mapping[str, str], environ: MutableMapping[str, str]) -> None:
    """Set TENANT_<ID>_DB_URL for exactly the seeded sample tenants.

    A variable left over from another scale (an inherited environment) would otherwise make the
    registry sync a database of another sample.
    """
    wanted = {source_env_var(t) for t in urls}
    for stale in [k for k in environ if _SAMPLE_SOURCE_VAR.fullmatch(k) and k not in wanted]:
        del environ[stale]
    for tenant_id, url in urls.items():
        environ[source_env_var(tenant_id)] = url
