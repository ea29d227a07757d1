"""A code location's load imports what the load needs; run-only libraries wait for a run."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from platform_core.environment import detect_environment
from platform_core.warehouse.resources import warehouse_resources

# Only a run (or the Snowflake path) needs these; each costs 0.1-1 s at every location load.
# The clone clean-up job is production's alone; tomlkit would mean pyproject.toml read twice.
RUN_ONLY = ["pandas", "pyarrow", "numpy", "duckdb", "dagster_duckdb", "adbc_driver_postgresql", "adbc_driver_manager",
            "snowflake.connector", "dagster_snowflake", "dagster_duckdb_pandas", "fakesnow",
            "platform_core.deploy.clone_jobs", "tomlkit"]  # fmt: skip
# The SQL parsers guard sessions, so only a run needs sqlglot; jinja2 renders templated
# component attributes, which the platform's components do not take. dagster-dbt imports both
# itself, so only locations without dbt models can be held to this.
SESSION_ONLY = ["sqlglot", "jinja2"]
PYTHON_ONLY_LOCATIONS = ["platform", "tenant_sync"]
# What only tenant_sync (and dedicated tenant locations) use: the registry's models, the sync
# assets, sensors and grants job.
TENANT_SYNC_ONLY = ["platform_core.tenancy.registry", "platform_core.tenancy.definitions"]

LOAD_EVERY_LOCATION = """
import json, sys
from pathlib import Path
from platform_core.workspace import read_locations
loaded = []
only = set(sys.argv[2:])
for location in read_locations(Path(sys.argv[1])):
    if only and location.name not in only:
        continue
    location.load_definitions().get_repository_def()
    loaded.append(location.name)
print(json.dumps({"loaded": loaded, "modules": sorted(sys.modules)}))
"""


def _load(repo_root: Path, *locations: str) -> tuple[list[str], set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", LOAD_EVERY_LOCATION, str(repo_root), *locations],
        capture_output=True, text=True, check=True, cwd=repo_root,
    ).stdout  # fmt: skip
    report = json.loads(out.strip().splitlines()[-1])
    imported = set(report["modules"])
    assert "dagster" in imported  # the probe saw a real load
    return report["loaded"], imported


def test_loading_every_location_imports_no_run_only_library(repo_root: Path) -> None:
    loaded, imported = _load(repo_root)
    assert {"platform", "sales", "marketing", "finance", "tenant_sync"} <= set(loaded)
    assert sorted(m for m in RUN_ONLY if m in imported) == []


def test_locations_without_dbt_load_without_the_sql_parser(repo_root: Path) -> None:
    loaded, imported = _load(repo_root, *PYTHON_ONLY_LOCATIONS)
    assert loaded == PYTHON_ONLY_LOCATIONS
    assert "dagster_dbt" not in imported  # else the next line could not hold
    assert sorted(m for m in SESSION_ONLY if m in imported) == []


def test_a_location_without_tenants_loads_without_tenant_sync(repo_root: Path) -> None:
    loaded, imported = _load(repo_root, "platform")
    assert loaded == ["platform"]
    assert sorted(m for m in TENANT_SYNC_ONLY if m in imported) == []


def test_local_io_manager_imports_pandas_in_the_run_and_round_trips(tmp_path: Path) -> None:
    env = detect_environment({"MESH_HOME": str(tmp_path)})
    resources = warehouse_resources(env, "sales")
    expected = pd.DataFrame({"order_id": [3, 1, 2], "amount": [9.5, 1.25, 4.0]})
    seen: list[pd.DataFrame] = []

    @dg.asset(key=["sales", "scratch"])
    def scratch() -> pd.DataFrame:
        return expected

    @dg.asset(
        key=["sales", "scratch_total"], deps=[], ins={"rows": dg.AssetIn(["sales", "scratch"])}
    )
    def scratch_total(rows: pd.DataFrame) -> None:
        seen.append(rows)

    result = dg.materialize([scratch, scratch_total], resources=resources)
    assert result.success
    with duckdb.connect(str(env.duckdb_path), read_only=True) as con:
        stored = con.execute(
            "select order_id, amount from sales.scratch order by order_id"
        ).fetchall()
    assert stored == [(1, 1.25), (2, 4.0), (3, 9.5)]
    assert (
        seen[0]
        .sort_values("order_id")
        .reset_index(drop=True)
        .equals(expected.sort_values("order_id").reset_index(drop=True))
    )
