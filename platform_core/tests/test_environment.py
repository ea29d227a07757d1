"""The environment matrix of DESIGN.md, and the branch-to-production guard."""

from pathlib import Path

import pytest
from platform_core.environment import (
    BranchWriteRefused,
    EnvName,
    clone_database_name,
    detect_environment,
)
from platform_core.errors import ConfigurationError

HOME = {"MESH_HOME": "/tmp/mesh-home"}
SNOW = {**HOME, "SNOWFLAKE_DATABASE": "analytics"}
BRANCH = {**SNOW, "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1", "DAGSTER_CLOUD_PULL_REQUEST_ID": "42"}


@pytest.mark.parametrize(
    ("variables", "expected", "database", "dbt_target"),
    [
        ({}, EnvName.LOCAL, "warehouse", "duckdb"),
        ({"MESH_ENV": "local"}, EnvName.LOCAL, "warehouse", "duckdb"),
        # dg sets DAGSTER_IS_DEV_CLI for every command, in CI too: it must not mean anything.
        ({"DAGSTER_IS_DEV_CLI": "1"}, EnvName.LOCAL, "warehouse", "duckdb"),
        ({"MESH_ENV": "prod", **SNOW}, EnvName.PROD, "ANALYTICS", "snowflake_prod"),
        (
            {"DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod", **SNOW},
            EnvName.PROD,
            "ANALYTICS",
            "snowflake_prod",
        ),
        (BRANCH, EnvName.BRANCH, "ANALYTICS_CLONE_42", "snowflake_branch"),
        # A branch deployment wins over anything claiming prod: it can only lose privileges.
        ({**BRANCH, "MESH_ENV": "prod"}, EnvName.BRANCH, "ANALYTICS_CLONE_42", "snowflake_branch"),
        (
            {**BRANCH, "DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod"},
            EnvName.BRANCH,
            "ANALYTICS_CLONE_42",
            "snowflake_branch",
        ),
    ],
)
def test_environment_matrix(variables, expected, database, dbt_target):
    env = detect_environment({**HOME, **variables})
    assert env.name is expected
    assert env.warehouse_database == database
    assert env.dbt_target == dbt_target


def test_local_warehouse_is_one_duckdb_file_under_mesh_home():
    env = detect_environment(HOME)
    assert env.duckdb_path == Path("/tmp/mesh-home/warehouse.duckdb")
    assert env.warehouse_kind == "duckdb"


def test_branch_guard_refuses_the_production_database():
    env = detect_environment(BRANCH)
    env.assert_may_write("analytics_clone_42")  # its own clone is fine, in any case
    with pytest.raises(BranchWriteRefused, match="may only use its clone 'ANALYTICS_CLONE_42'"):
        env.assert_may_write("ANALYTICS")
    with pytest.raises(BranchWriteRefused):
        env.assert_may_write("ANALYTICS_CLONE_43")  # nor another pull request's clone


def test_prod_may_write_production():
    detect_environment({"MESH_ENV": "prod", **SNOW}).assert_may_write("ANALYTICS")


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"MESH_ENV": "staging"}, "MESH_ENV='staging' is not an environment"),
        ({"MESH_ENV": "prod", **HOME}, "SNOWFLAKE_DATABASE=''"),
        ({**SNOW, "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1"}, "DAGSTER_CLOUD_PULL_REQUEST_ID=''"),
        ({**BRANCH, "DAGSTER_CLOUD_PULL_REQUEST_ID": "42; drop"}, "is not a pull request number"),
        ({"MESH_ENV": "branch"}, "MESH_ENV=branch is not enough"),
        ({"MESH_ENV": "prod", **SNOW, "SNOWFLAKE_DATABASE": "a.b"}, "SNOWFLAKE_DATABASE='a.b'"),
        ({"MESH_AUTOMATION_INTERVAL_SECONDS": "0"}, "MESH_AUTOMATION_INTERVAL_SECONDS='0'"),
    ],
)
def test_bad_settings_name_the_variable_and_the_fix(variables, message):
    with pytest.raises(ConfigurationError, match=r"Fix|must") as error:
        detect_environment({**HOME, **variables})
    assert message in str(error.value)


def test_clone_name_follows_design():
    assert clone_database_name("analytics", "7") == "ANALYTICS_CLONE_7"
