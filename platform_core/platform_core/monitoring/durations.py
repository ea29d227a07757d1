"""Duration SLAs: a run over its products' (or tenant's) expected run time alerts once as
long-running; the hard limit is the run's `dagster/max_runtime`, which run monitoring enforces
(the stop is alerted by run_failures)."""

from collections.abc import Sequence

import dagster as dg

from platform_core.monitoring.incidents import Alert, AlertKind, Incident
from platform_core.monitoring.location import LocationMonitor, run_location


def _run_seconds(monitor: LocationMonitor, run: dg.DagsterRun, limit: str) -> int | None:
    """The run's `limit` (expected_runtime_seconds or max_runtime_seconds): its tenant's,
    else the largest among the products it builds."""
    tenant = monitor.tenant_of(run)
    if tenant is not None and getattr(tenant, limit):
        return getattr(tenant, limit)
    keys = run.asset_selection or set(monitor.assets)
    values = [getattr(monitor.assets[k], limit) for k in keys if k in monitor.assets]
    return max((v for v in values if v), default=None)


def expected_seconds(monitor: LocationMonitor, run: dg.DagsterRun) -> int | None:
    return _run_seconds(monitor, run, "expected_runtime_seconds")


def hard_limit_seconds(monitor: LocationMonitor, run: dg.DagsterRun) -> int | None:
    """The run's own limit: its tenant's, else that of the slowest product it builds."""
    return _run_seconds(monitor, run, "max_runtime_seconds")


def tighten_hard_limit(
    monitor: LocationMonitor, instance: dg.DagsterInstance, run: dg.DagsterRun
) -> None:
    """Runs are launched with the location's widest limit (a job's tags are fixed); once a
    run is known to build only some products, narrow `dagster/max_runtime` to theirs.
    Run monitoring reads the tag on every poll."""
    limit = hard_limit_seconds(monitor, run)
    current = run.tags.get(dg.MAX_RUNTIME_SECONDS_TAG)
    if limit and (current is None or float(current) > limit):
        instance.add_run_tags(run.run_id, {dg.MAX_RUNTIME_SECONDS_TAG: str(limit)})


def check_durations(
    monitor: LocationMonitor,
    instance: dg.DagsterInstance,
    open_: Sequence[Incident],
    now: float,
) -> None:
    router = monitor.router()
    prefix = f"{AlertKind.LONG_RUNNING}:{monitor.location}:"
    for record in instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
    ):
        run = record.dagster_run
        if run_location(run) != monitor.location or record.start_time is None:
            continue
        tighten_hard_limit(monitor, instance, run)
        expected = expected_seconds(monitor, run)
        elapsed = now - record.start_time
        if expected is None or elapsed <= expected:
            continue
        keys = sorted(run.asset_selection or monitor.assets, key=lambda k: k.path)
        recipients, scope = monitor.recipients(run, keys)
        limit = run.tags.get(dg.MAX_RUNTIME_SECONDS_TAG)
        router.raise_incident(
            Alert(
                incident_key=f"{prefix}{run.run_id}",
                kind=AlertKind.LONG_RUNNING,
                title=f"{run.job_name} in {monitor.location} is running longer than expected",
                recipients=recipients,
                scope=scope,
                link=monitor.run_link(run.run_id),
                details={
                    "Run": run.run_id,
                    "Running for": f"{elapsed:.0f} s",
                    "Expected": f"{expected} s",
                    "Hard limit": f"{limit} s" if limit else "none",
                },
            )
        )
    for incident in open_:
        if incident.key.startswith(prefix):
            run = instance.get_run_by_id(incident.key.removeprefix(prefix))
            if run is None or run.is_finished:
                status = run.status.value if run else "deleted"
                router.resolve_incident(incident.key, f"the run finished: {status}")
