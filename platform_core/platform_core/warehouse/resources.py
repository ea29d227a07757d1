"""The resources every code location gets, chosen by the environment helper."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from platform_core.environment import Environment, snowflake_credential_variables
from platform_core.warehouse.duckdb import DuckDBWarehouse
from platform_core.warehouse.snowflake import SnowflakeWarehouse

# Connection settings come from variables only; no credential ever sits in code or config.
# Which user/password/role variables is decided by platform_core.environment.
SNOWFLAKE_ACCOUNT = {"account": "SNOWFLAKE_ACCOUNT"}
SNOWFLAKE_OPTIONAL = {"warehouse": "SNOWFLAKE_WAREHOUSE"}
# Network endpoint overrides (private link, or fakesnow in tests): not secrets, plain values.
SNOWFLAKE_ENDPOINT = {
    "host": "SNOWFLAKE_HOST",
    "port": "SNOWFLAKE_PORT",
    "protocol": "SNOWFLAKE_PROTOCOL",
}


def _snowflake_settings(env: Environment, clone_admin: bool = False) -> dict[str, Any]:
    credentials = snowflake_credential_variables(env, clone_admin=clone_admin)
    role = {"role": credentials.pop("role")}
    settings: dict[str, Any] = {
        field: dg.EnvVar(var) for field, var in {**SNOWFLAKE_ACCOUNT, **credentials}.items()
    }
    # Optional settings are wired only when set, so an unset one is simply absent.
    settings.update(
        {
            field: dg.EnvVar(var)
            for field, var in {**role, **SNOWFLAKE_OPTIONAL}.items()
            if os.environ.get(var)
        }
    )
    return settings


def clone_admin_warehouse(env: Environment) -> SnowflakeWarehouse:
    """The privileged account session's resource, for creating and dropping clones: used by the
    pull-request workflow (`meshctl clone`) and production's clean-up, never by a branch
    deployment (which holds only the SNOWFLAKE_BRANCH_* identity)."""
    return SnowflakeWarehouse(
        **_snowflake_settings(env, clone_admin=True), **_snowflake_endpoint(), clone_admin=True
    )


def _snowflake_endpoint() -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        field: os.environ[var] for field, var in SNOWFLAKE_ENDPOINT.items() if os.environ.get(var)
    }
    if "port" in endpoint:
        endpoint["port"] = int(endpoint["port"])
    return endpoint


def warehouse_resources(env: Environment, location: str) -> dict[str, Any]:
    """`warehouse` (SQL sessions for products) and `io_manager` (DataFrames of plain assets).

    Both address the same database: the local DuckDB file, or in Snowflake the environment's
    database (a branch deployment's clone, never production).
    """
    if env.is_local:
        path = str(env.duckdb_path)
        return {
            "warehouse": DuckDBWarehouse(path=path),
            "io_manager": duckdb_pandas_io_manager(path),
        }

    from dagster_snowflake_pandas import SnowflakePandasIOManager

    settings = _snowflake_settings(env)
    endpoint = _snowflake_endpoint()
    env.assert_may_write(env.warehouse_database)
    return {
        "warehouse": SnowflakeWarehouse(**settings, **endpoint, query_tag=f"mesh:{location}"),
        "io_manager": SnowflakePandasIOManager(
            database=env.warehouse_database,
            **settings,
            additional_snowflake_connection_args=endpoint or None,
        ),
    }


def duckdb_pandas_io_manager(path: str) -> dg.IOManagerDefinition:
    """dagster-duckdb-pandas' IO manager on `path`, imported when a run first needs it.

    Constructing `DuckDBPandasIOManager` at load imports pandas (~1 s per code location) for
    the few assets that hand DataFrames to an IO manager; this definition imports it in the
    run instead. The config keys are the ones its DuckDB client reads.
    """

    @dg.io_manager(
        config_schema={
            "database": dg.Field(str, default_value=path),
            "schema": dg.Field(dg.Noneable(str), default_value=None),
            "connection_config": dg.Field(dict, default_value={}),
        },
        description=f"DataFrames as tables in DuckDB {path} (dagster-duckdb-pandas)",
    )
    def duckdb_pandas(init_context: dg.InitResourceContext) -> dg.IOManager:
        from dagster_duckdb_pandas import DuckDBPandasIOManager

        config = init_context.resource_config
        return DuckDBPandasIOManager(
            database=config["database"], schema=config["schema"]
        ).create_io_manager(init_context)

    return duckdb_pandas
