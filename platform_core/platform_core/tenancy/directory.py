"""Monitoring's tenant directory, filled from the tenant registry (tenants.yaml or its table).

Tenancy sits above monitoring: it implements monitoring's `TenantDirectory`, so monitoring
never imports the registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from platform_core.monitoring.tenants import TenantDirectory, TenantProfile
from platform_core.workspace import find_mesh_root

if TYPE_CHECKING:  # every location's monitoring holds a directory; only its questions read
    from platform_core.tenancy.registry import TenantEntry


def profiles_from_registry_entries(entries: Iterable[TenantEntry]) -> list[TenantProfile]:
    """Registry entries as monitoring profiles; expected run time is half the hard limit."""
    profiles = []
    for entry in entries:
        max_runtime = entry.sla.max_runtime_seconds
        profiles.append(
            TenantProfile(
                id=entry.id,
                contacts=tuple(entry.owners),
                monthly_budget_usd=entry.monthly_budget_usd,
                max_runtime_seconds=max_runtime,
                expected_runtime_seconds=max_runtime // 2,
            )
        )
    return profiles


class RegistryTenantDirectory:
    """Reads the registry on each question, so onboarding a tenant needs no deploy."""

    def __init__(self, near: Path) -> None:
        self._near = near

    def all(self) -> list[TenantProfile]:
        from platform_core.tenancy.registry import load_registry, registry_path

        try:
            registry = load_registry(registry_path(root=find_mesh_root(self._near)))
        except Exception:  # a broken registry is reported by tenant sync; monitoring goes on
            return []
        return profiles_from_registry_entries(registry.active)

    def get(self, tenant_id: str) -> TenantProfile | None:
        return next((p for p in self.all() if p.id == tenant_id), None)


def default_tenant_directory(near: Path) -> TenantDirectory:
    """The tenant registry of the mesh containing `near` (empty when it has none)."""
    return RegistryTenantDirectory(near)
