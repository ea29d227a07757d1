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
    registry = load_registry(registry_path(root))
    add, delete = partition_changes(registry, instance.get_dynamic_partitions(name))
    if add:
        instance.add_dynamic_partitions(name, add)
    for key in delete:
        instance.delete_dynamic_partition(name, key)
    return add, delete
