"""Snowflake tenant roles: the grants plan (which statements, run as which role) and where the
job exists. fakesnow cannot run GRANT or CREATE ROLE, so the plan is what is tested here."""

import re

import pytest
from platform_core.definitions import build_tenant_sync_definitions
from platform_core.errors import UnsafeIdentifierError
from platform_core.tenancy.isolation import tenant_grants_plan, tenant_role

PLAN = {
    "database": "analytics",
    "admin_role": "SECURITYADMIN",
    "platform_role": "MESH_PLATFORM",
    "sync_user": "MESH_SYNC",
}


def test_each_tenant_role_owns_only_its_own_schema():
    plan = tenant_grants_plan(["globex", "acme"], **PLAN)
    assert {s.run_as for s in plan} == {"SECURITYADMIN"}
    for tenant, other in (("acme", "globex"), ("globex", "acme")):
        role = tenant_role(tenant)
        mine = [s.sql for s in plan if re.search(rf"\b{role}\b", s.sql)]
        assert f"create role if not exists {role}" in mine
        assert f"grant role {role} to user MESH_SYNC" in mine
        assert (
            f"grant ownership on schema ANALYTICS.TENANT_{tenant.upper()} to role {role} "
            "copy current grants"
        ) in mine
        schemas = {m for sql in mine for m in re.findall(r"ANALYTICS\.(\w+)", sql)}
        assert schemas == {f"TENANT_{tenant.upper()}"}  # never another tenant's schema
        assert not [sql for sql in mine if f"TENANT_{other.upper()}" in sql]


def test_the_platform_role_reads_every_tenant_schema_for_the_union():
    plan = [s.sql for s in tenant_grants_plan(["acme", "globex"], **PLAN)]
    for tenant in ("ACME", "GLOBEX"):
        assert (
            f"grant select on future tables in schema ANALYTICS.TENANT_{tenant} to role MESH_PLATFORM"
            in plan
        )
        assert f"grant usage on schema ANALYTICS.TENANT_{tenant} to role MESH_PLATFORM" in plan


def test_the_plan_is_idempotent_and_names_are_validated():
    plan = tenant_grants_plan(["acme", "acme"], **PLAN)
    assert plan == tenant_grants_plan(["acme"], **PLAN)
    creates = [s.sql for s in plan if s.sql.startswith("create")]
    assert creates and all(" if not exists " in sql for sql in creates)
    with pytest.raises(UnsafeIdentifierError):
        tenant_grants_plan(["acme; drop database analytics"], **PLAN)
    with pytest.raises(UnsafeIdentifierError):
        tenant_grants_plan(["acme"], **{**PLAN, "platform_role": "x\n"})


@pytest.mark.parametrize(("environ", "present"), [({}, False), ({"MESH_ENV": "prod"}, True)])
def test_the_grants_job_exists_in_production_only(
    monkeypatch, clean_environment, tmp_path, environ, present
):
    for key, value in {
        "SNOWFLAKE_DATABASE": "analytics",
        "MESH_HOME": str(tmp_path),
        **environ,
    }.items():
        monkeypatch.setenv(key, value)
    registry = tmp_path / "tenants.yaml"
    registry.write_text("tenants: []\n")
    jobs = {job.name for job in build_tenant_sync_definitions(registry).jobs}
    assert ("tenant_grants" in jobs) is present
