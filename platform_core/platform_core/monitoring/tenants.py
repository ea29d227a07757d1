"""What monitoring needs to know about a tenant, behind an interface the tenant registry fills.

Monitoring asks a `TenantDirectory` for a tenant id and gets contacts, run-time limits, a
monthly budget and a concurrency limit. The tenant registry fills it
(`platform_core.tenancy.directory`, a layer above); tests use `StaticTenantDirectory`.
A run belongs to a tenant when it carries the `mesh/tenant` tag.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from platform_core.identifiers import safe_identifier

TENANT_TAG = "mesh/tenant"
# Runs of a tenant over its monthly budget carry THROTTLED_TAG=true; the OSS instance lets all
# such runs together hold one run slot (`tag_concurrency_limits` in deployment/dagster.yaml).
THROTTLED_TAG = "mesh/throttled"
# The instance-wide set of throttled tenants (a dynamic partitions set: shared by every
# location's sensors and visible in the UI), kept by the budget rule.
THROTTLED_TENANTS = "mesh_throttled_tenants"


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
