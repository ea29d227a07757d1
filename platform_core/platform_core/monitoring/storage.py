"""Where monitoring keeps incidents, deliveries and run costs.

In Snowflake: the `monitoring` schema of the environment's warehouse database. Locally: a
DuckDB file of its own (`.mesh/mesh_monitoring.duckdb`), because DuckDB takes one writer at a time
and a run holds the warehouse file for as long as it runs: a long-running alert must be
recordable exactly while a long run holds the warehouse.
"""

from __future__ import annotations

from platform_core.environment import Environment
from platform_core.warehouse.base import Warehouse
from platform_core.warehouse.duckdb import DuckDBWarehouse


def monitoring_warehouse(env: Environment, location: str) -> Warehouse:
    if env.is_local:
        return DuckDBWarehouse(path=str(env.mesh_home / "mesh_monitoring.duckdb"))
    from platform_core.warehouse.resources import warehouse_resources

    return ResolvedOnUse(warehouse_resources(env, location)["warehouse"])


class ResolvedOnUse:
    """A warehouse resource used outside a run (by sensors), where Dagster does not resolve its
    `EnvVar` fields: they are resolved when a session opens (unresolved, the Snowflake
    connector got the variables' names), not when the location loads (an image build or a
    definitions check has no credentials)."""

    def __init__(self, resource) -> None:
        self._resource = resource

    def session(self):
        return self._resource.process_config_and_initialize().session()

    def __getattr__(self, name: str):
        return getattr(self._resource, name)
