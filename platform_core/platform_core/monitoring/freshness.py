"""Freshness: a product older than `sla.fail_after` alerts its owners, and is re-run
automatically once its inputs are fresh and pass their checks (once per stale materialization)."""

from datetime import UTC, datetime

import dagster as dg

from platform_core.monitoring.incidents import Alert, AlertKind
from platform_core.monitoring.location import (
    IN_PROGRESS,
    LocationMonitor,
    MonitorCursor,
    run_location,
)
from platform_core.monitoring.quality import check_failed, latest_check_records


def is_healthy(
    monitor: LocationMonitor, instance: dg.DagsterInstance, key: dg.AssetKey, now: float
) -> bool:
    asset = monitor.mesh_assets.get(key)
    latest = instance.get_latest_materialization_event(key)
    if latest is None:
        return False
    if asset is None:
        return True
    if asset.fail_after_seconds and now - latest.timestamp > asset.fail_after_seconds:
        return False
    records = latest_check_records(instance, asset.checks)
    return not any(check_failed(r) for r in records.values())


def in_progress(monitor: LocationMonitor, instance: dg.DagsterInstance, key: dg.AssetKey) -> bool:
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        run = record.dagster_run
        if run_location(run) == monitor.location and (
            run.asset_selection is None or key in run.asset_selection
        ):
            return True
    return False


def check_freshness(
    monitor: LocationMonitor, instance: dg.DagsterInstance, cursor: MonitorCursor, now: float
) -> list[dg.RunRequest]:
    router = monitor.router()
    requests = []
    for asset in monitor.assets.values():
        if not asset.fail_after_seconds:
            continue
        latest = instance.get_latest_materialization_event(asset.key)
        if latest is None:
            continue  # never built: nothing is stale yet
        incident_key = f"{AlertKind.STALE}:{asset.ref}"
        age = now - latest.timestamp
        if age <= asset.fail_after_seconds:
            cursor.retriggered.pop(asset.ref, None)
            router.resolve_incident(incident_key, f"fresh again (updated {age:.0f} s ago)")
            continue
        unhealthy = [
            i.to_user_string() for i in asset.inputs if not is_healthy(monitor, instance, i, now)
        ]
        router.raise_incident(
            Alert(
                incident_key=incident_key,
                kind=AlertKind.STALE,
                title=f"{asset.ref} is stale",
                recipients=asset.owners,
                scope=monitor.scope,
                details={
                    "Last update": datetime.fromtimestamp(latest.timestamp, UTC).isoformat(
                        timespec="seconds"
                    ),
                    "Freshness SLA": f"{asset.fail_after_seconds:.0f} s",
                    "Re-run": "requested automatically once its inputs are healthy"
                    + (f" (waiting for {', '.join(unhealthy)})" if unhealthy else ""),
                },
            )
        )
        if unhealthy or cursor.retriggered.get(asset.ref) == latest.timestamp:
            continue
        if in_progress(monitor, instance, asset.key):
            continue
        cursor.retriggered[asset.ref] = latest.timestamp
        requests.append(
            dg.RunRequest(
                run_key=f"stale:{asset.ref}:{latest.timestamp}",
                asset_selection=[asset.key],
                tags={**monitor.run_tags(), "mesh/trigger": "freshness"},
            )
        )
    return requests
