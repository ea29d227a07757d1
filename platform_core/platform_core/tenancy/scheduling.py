"""Pure decisions of the tenant sync automation (no Dagster): partitions to add or drop, which
tenants' crons have ticked, and the run tags a tenant's run carries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from platform_core.monitoring.tenants import TENANT_TAG
from platform_core.tenancy.registry import IsolationMode, Registry, TenantEntry

# TENANT_TAG names a run's tenant: the instance limits runs per unique value (tag
# concurrency) and monitoring routes the run's alerts to that tenant's contacts.
MAX_RETRIES = 1


def synced_here(registry: Registry) -> list[TenantEntry]:
    """Active tenants the shared tenant_sync location syncs (not those with their own location)."""
    return [t for t in registry.active if t.isolation is IsolationMode.SCHEMA]


def partition_changes(registry: Registry, existing: Iterable[str]) -> tuple[list[str], list[str]]:
    """(partitions to add, partitions to delete) so partitions == tenants synced here."""
    wanted = {t.id for t in synced_here(registry)}
    existing = set(existing)
    return sorted(wanted - existing), sorted(existing - wanted)


def due_tenants(
    registry: Registry, now: datetime, last_ticks: Mapping[str, str]
) -> tuple[list[tuple[TenantEntry, datetime]], dict[str, str]]:
    """Tenants whose cron (in their own time zone) ticked since the last evaluation.

    A tenant seen for the first time is not run at once: its next tick starts it (so a deploy
    or a registry reload never triggers a burst of syncs).
    """
    due, cursor = [], {}
    for tenant in synced_here(registry):
        local_now = now.astimezone(ZoneInfo(tenant.timezone))
        tick: datetime = croniter(tenant.cron, local_now).get_prev(datetime)
        previous = last_ticks.get(tenant.id)
        if previous is not None and tick > datetime.fromisoformat(previous):
            due.append((tenant, tick))
        cursor[tenant.id] = tick.isoformat()
    return due, cursor


def run_tags(tenant: TenantEntry) -> dict[str, str]:
    """Tags of a tenant's sync run: its concurrency key, max run time and one retry."""
    return {
        TENANT_TAG: tenant.id,
        "dagster/max_runtime": str(tenant.sla.max_runtime_seconds),
        "dagster/max_retries": str(MAX_RETRIES),
        "dagster/retry_strategy": "ALL_STEPS",
        # The OSS instance retries only lost processes (run_retries.retry_on_asset_or_op_failure
        # is false); a tenant's database being briefly unreachable fails a step, and its owners
        # are alerted only after the retry, so that retry must happen.
        "dagster/retry_on_asset_or_op_failure": "true",
    }
