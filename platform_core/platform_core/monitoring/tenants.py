"""What monitoring needs to know about a tenant, behind an interface the tenant registry fills.

Monitoring asks a `TenantDirectory` for a tenant id and gets contacts, run-time limits, a
monthly budget and a concurrency limit. The tenant registry (tenants.yaml / tenant_registry
table) plugs in through `profiles_from_registry_entries`; tests use `StaticTenantDirectory`.
A run belongs to a tenant when it carries the `mesh/tenant` tag.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from platform_core.identifiers import safe_identifier

TENANT_TAG = "mesh/tenant"


@dataclass(frozen=True)
class TenantProfile:
    id: str
    contacts: tuple[str, ...]
    monthly_budget_usd: float | None = None
    max_runtime_seconds: int | None = None
    expected_runtime_seconds: int | None = None
    max_concurrent_runs: int = 1

    @property
    def pool(self) -> str:
        return tenant_pool(self.id)


def tenant_pool(tenant_id: str) -> str:
    """The Dagster pool (concurrency key) of a tenant's steps; budgets throttle it."""
    return f"tenant_{safe_identifier(tenant_id, 'tenant id')}"


class TenantDirectory(Protocol):
    def get(self, tenant_id: str) -> TenantProfile | None: ...

    def all(self) -> list[TenantProfile]: ...


class StaticTenantDirectory:
    def __init__(self, profiles: Iterable[TenantProfile] = ()) -> None:
        self._profiles = {p.id: p for p in profiles}

    def get(self, tenant_id: str) -> TenantProfile | None:
        return self._profiles.get(tenant_id)

    def all(self) -> list[TenantProfile]:
        return list(self._profiles.values())


def profiles_from_registry_entries(entries: Iterable[Any]) -> list[TenantProfile]:
    """Adapt tenant registry entries (id, owners, sla.max_runtime_seconds, monthly_budget_usd,
    max_concurrent_runs) to monitoring profiles; expected run time is half the hard limit."""
    profiles = []
    for entry in entries:
        max_runtime = getattr(getattr(entry, "sla", None), "max_runtime_seconds", None)
        profiles.append(
            TenantProfile(
                id=entry.id,
                contacts=tuple(entry.owners),
                monthly_budget_usd=getattr(entry, "monthly_budget_usd", None),
                max_runtime_seconds=max_runtime,
                expected_runtime_seconds=max_runtime // 2 if max_runtime else None,
                max_concurrent_runs=getattr(entry, "max_concurrent_runs", 1),
            )
        )
    return profiles


def default_tenant_directory(near: Path) -> TenantDirectory:
    """The tenant registry of the mesh containing `near`, when the registry exists; else an
    empty directory (runs without a tenant are routed to asset owners)."""
    try:
        from platform_core.tenancy import registry  # the tenant registry (tenant sync)
    except ImportError:
        return StaticTenantDirectory()
    loader = getattr(registry, "load_registry", None)
    if loader is None:
        return StaticTenantDirectory()
    return _RegistryDirectory(loader, near)


class _RegistryDirectory:
    """Reads the registry on each question, so onboarding a tenant needs no deploy."""

    def __init__(self, loader: Any, near: Path) -> None:
        self._loader = loader
        self._near = near

    def all(self) -> list[TenantProfile]:
        from platform_core.workspace import find_mesh_root

        try:
            registry = self._loader(find_mesh_root(self._near) / "tenants.yaml")
        except Exception:  # a broken registry is reported by tenant sync; monitoring goes on
            return []
        active = getattr(registry, "active", ())
        return profiles_from_registry_entries(active() if callable(active) else active)

    def get(self, tenant_id: str) -> TenantProfile | None:
        return next((p for p in self.all() if p.id == tenant_id), None)
