"""The local tenant databases for `./mesh up`, `meshctl materialize` and the tests.

One PostgreSQL server under MESH_HOME (started if not running), one database per sample
tenant, and each tenant's source variable (TENANT_<ID>_DB_URL) set for this process and the
processes it starts (dagster dev, code servers, runs).
"""

from __future__ import annotations

from pathlib import Path

from platform_core.environment import Environment

from mesh_tooling.sample.data import Scale
from mesh_tooling.sample.tenant_databases import seed_tenant_databases
from mesh_tooling.servers.postgres import LocalPostgres, server_folder, start_postgres


def postgres_dir(env: Environment) -> Path:
    return server_folder(env.mesh_home / "postgres" / "data")


def start_local_tenant_databases(
    env: Environment, scale: Scale, port: int | None = None
) -> tuple[LocalPostgres, bool]:
    """(server, started_here): the running server with every sample tenant seeded; a new
    server listens on `port` (default: any free one)."""
    data_dir = postgres_dir(env)
    was_running = (data_dir / "postmaster.pid").exists()
    server = start_postgres(data_dir, port)
    seed_tenant_databases(server, scale)
    return server, not was_running
