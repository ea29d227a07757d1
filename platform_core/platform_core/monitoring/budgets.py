"""Cost and budgets: every finished run of the location is measured and recorded (run tags and
`monitoring.run_costs`); a tenant at 80% of its monthly budget gets a warning, over it an alert
and its runs throttled (that tenant's only) until the budget is raised or the month ends.

Throttled means: the tenant joins the instance's set of throttled tenants, its queued runs and
every run the platform launches for it carry `mesh/throttled=true`, and the run queue lets all
throttled runs together hold one slot; its pool (the steps of a tenant's own location) is
lowered too."""

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import dagster as dg

from platform_core.monitoring.cost import (
    BudgetStatus,
    current_month,
    measure_run,
    monthly_spend,
    record_cost,
)
from platform_core.monitoring.incidents import Alert, AlertKind, Incident
from platform_core.monitoring.location import FINISHED, LocationMonitor, MonitorCursor, run_location
from platform_core.monitoring.run_failures import alert_if_stopped_at_limit
from platform_core.monitoring.tenants import (
    TENANT_TAG,
    THROTTLED_TAG,
    THROTTLED_TENANTS,
    TenantProfile,
)


def record_costs(
    monitor: LocationMonitor, instance: dg.DagsterInstance, cursor: MonitorCursor
) -> set[str]:
    """Cost of every run of this location finished since the cursor; returns its tenants."""
    tenants: set[str] = set()
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=FINISHED,
            updated_after=datetime.fromtimestamp(cursor.costs_after, UTC),
        ),
        limit=200,
        ascending=True,
    )
    for record in records:
        cursor.costs_after = max(cursor.costs_after, record.update_timestamp.timestamp())
        run = record.dagster_run
        if run_location(run) != monitor.location or "mesh/cost_usd" in run.tags:
            continue
        if run.status == dg.DagsterRunStatus.CANCELED:
            alert_if_stopped_at_limit(monitor, instance, run)
        cost = measure_run(instance, record, monitor.location, monitor.env, monitor.rates)
        if monitor.tenant and cost.tenant is None:
            cost = replace(cost, tenant=monitor.tenant)
        with monitor.warehouse.session() as session:
            record_cost(session, cost)
        instance.add_run_tags(run.run_id, cost.tags())
        if cost.tenant:
            tenants.add(cost.tenant)
    return tenants


def check_budgets(
    monitor: LocationMonitor,
    instance: dg.DagsterInstance,
    tenants: Iterable[str],
    open_: Sequence[Incident],
) -> None:
    month = current_month()
    router = monitor.router()
    # Tenants with an open budget incident are re-evaluated too (a new month clears them).
    budget_kinds = {AlertKind.OVER_BUDGET, AlertKind.BUDGET_WARNING}
    for incident in open_:
        if incident.kind in budget_kinds and incident.scope.startswith("tenant:"):
            tenants = {*tenants, incident.scope.removeprefix("tenant:")}
    if not tenants:
        return
    with monitor.warehouse.session() as session:
        spend = monthly_spend(session, "tenant", month)
    for tenant_id in sorted(tenants):
        profile = monitor.tenants.get(tenant_id)
        if profile is None or not profile.monthly_budget_usd:
            continue
        status = BudgetStatus(tenant_id, spend.get(tenant_id, 0.0), profile.monthly_budget_usd)
        for incident in open_:
            if incident.kind in budget_kinds and incident.scope == f"tenant:{tenant_id}":
                stale_month = not incident.key.endswith(f":{month}")
                cleared = (incident.kind == AlertKind.OVER_BUDGET and not status.over) or (
                    incident.kind == AlertKind.BUDGET_WARNING
                    and not (status.warning or status.over)
                )
                if stale_month or cleared:
                    router.resolve_incident(incident.key, f"now {status.describe()}")
        if status.over:
            router.raise_incident(budget_alert(profile, status, AlertKind.OVER_BUDGET, month))
        elif status.warning:
            router.raise_incident(budget_alert(profile, status, AlertKind.BUDGET_WARNING, month))
        throttle_tenant(instance, profile, throttled=status.over)


def budget_alert(
    profile: TenantProfile, status: BudgetStatus, kind: AlertKind, month: str
) -> Alert:
    over = kind is AlertKind.OVER_BUDGET
    return Alert(
        incident_key=f"{kind.value}:{profile.id}:{month}",
        kind=kind,
        title=(
            f"Tenant {profile.id} is over its monthly budget"
            if over
            else f"Tenant {profile.id} has used {status.ratio:.0%} of its monthly budget"
        ),
        recipients=profile.contacts,
        scope=f"tenant:{profile.id}",
        details={
            "Month": month,
            "Spent": status.describe(),
            "Concurrency": (
                f"lowered to {throttled_slots(profile)} (pool {profile.pool}); its runs carry "
                f"{THROTTLED_TAG}=true and queue behind other throttled runs "
                "until the budget is raised or the month ends"
                if over
                else f"unchanged ({profile.max_concurrent_runs}, pool {profile.pool})"
            ),
        },
    )


def throttled_slots(profile: TenantProfile) -> int:
    """Over budget, a tenant's pool drops to one step at a time (at most half its limit)."""
    return max(1, profile.max_concurrent_runs // 2) if profile.max_concurrent_runs > 1 else 1


def throttle_tenant(instance: dg.DagsterInstance, profile: TenantProfile, throttled: bool) -> int:
    """Set the tenant's pool limit: normal, or lowered while over budget. Other tenants'
    pools are never touched. Returns the limit now in force."""
    slots = throttled_slots(profile) if throttled else profile.max_concurrent_runs
    storage = instance.event_log_storage
    current = storage.get_concurrency_info(profile.pool).slot_count
    if current != slots:
        storage.set_concurrency_slots(profile.pool, slots)
    throttle_runs(instance, profile.id, throttled)
    return slots


def throttle_runs(instance: dg.DagsterInstance, tenant_id: str, throttled: bool) -> None:
    """Put the tenant in (or take it out of) the throttled set, and tag its queued runs so the
    run queue holds them behind the throttled limit (or releases them)."""
    members = set(instance.get_dynamic_partitions(THROTTLED_TENANTS))
    if throttled and tenant_id not in members:
        instance.add_dynamic_partitions(THROTTLED_TENANTS, [tenant_id])
    elif not throttled and tenant_id in members:
        instance.delete_dynamic_partition(THROTTLED_TENANTS, tenant_id)
    queued = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED], tags={TENANT_TAG: tenant_id})
    )
    value = "true" if throttled else "false"
    for run in queued:
        if run.tags.get(THROTTLED_TAG, "false") != value:
            instance.add_run_tags(run.run_id, {THROTTLED_TAG: value})


def throttle_tags(instance: dg.DagsterInstance, tenant_id: str) -> dict[str, str]:
    """Tags a new run of the tenant carries: the throttle while it is over budget."""
    if tenant_id in instance.get_dynamic_partitions(THROTTLED_TENANTS):
        return {THROTTLED_TAG: "true"}
    return {}
