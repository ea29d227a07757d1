"""Keeping the `tenants` dynamic partitions equal to the registry outside the sensor (the
headless runner, `meshctl tenants sync-partitions`)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from platform_core.tenancy.registry import load_registry, registry_path
from platform_core.tenancy.scheduling import partition_changes

TENANT_PARTITIONS = "tenants"


def reconcile_tenant_partitions(
    instance: dg.DagsterInstance, name: str = TENANT_PARTITIONS, root: Path | None = None
) -> tuple[list[str], list[str]]:
    """Add/delete partitions so they match the registry's tenants; returns (added, deleted)."""
    if name != TENANT_PARTITIONS:
        return [], []
    registry = load_registry(registry_path(root=root))
    add, delete = partition_changes(registry, instance.get_dynamic_partitions(name))
    if add:
        instance.add_dynamic_partitions(name, add)
    for key in delete:
        instance.delete_dynamic_partition(name, key)
    return add, delete


def failed_tenant_partitions(instance: dg.DagsterInstance, job_name: str) -> list[str]:
    """Tenants whose latest run of `job_name` failed: what a recovery backfill must re-run."""
    latest: dict[str, dg.DagsterRunStatus] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=job_name)):  # newest first
        partition = run.tags.get("dagster/partition")
        if partition and partition not in latest:
            latest[partition] = run.status
    return sorted(p for p, status in latest.items() if status == dg.DagsterRunStatus.FAILURE)


def backfill_failed_tenants(instance: dg.DagsterInstance, job: dg.JobDefinition) -> dict[str, bool]:
    """Re-run every failed tenant partition of `job` in this process; {tenant: succeeded}."""
    results = {}
    for tenant_id in failed_tenant_partitions(instance, job.name):
        result = job.execute_in_process(
            instance=instance,
            partition_key=tenant_id,
            raise_on_error=False,
            tags={"mesh/backfill": "failed_tenants"},
        )
        results[tenant_id] = result.success
    return results
