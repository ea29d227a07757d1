"""The monitoring rules as two sensors per code location (added by each location's root, platform_core.definitions).

Per location, not one platform-wide sensor: each location's sensors know its products'
owners, SLAs and checks from its own declarations, tick in its own code server, and keep
working when another location fails to load. A location's failure sensor sees only its own
runs, so a tenant's or domain's failure never reaches anyone else.

- `<location>_run_failure_alerts` (run_failures.py).
- `<location>_monitoring`, every tick: durations.py, run_failures.resolve_failures,
  quality.py, freshness.py, budgets.py.
"""

import time

import dagster as dg

from platform_core.monitoring.budgets import check_budgets, record_costs
from platform_core.monitoring.durations import check_durations
from platform_core.monitoring.freshness import check_freshness
from platform_core.monitoring.location import LocationMonitor, MonitorCursor
from platform_core.monitoring.quality import check_quality
from platform_core.monitoring.run_failures import resolve_failures, run_failure_sensor


def tick(
    monitor: LocationMonitor, instance: dg.DagsterInstance, cursor: MonitorCursor
) -> list[dg.RunRequest]:
    now = time.time()
    open_ = monitor.router().open_incidents()
    check_durations(monitor, instance, open_, now)
    resolve_failures(monitor, instance, open_)
    check_quality(monitor, instance)
    requests = check_freshness(monitor, instance, cursor, now)
    tenants = record_costs(monitor, instance, cursor)
    check_budgets(monitor, instance, tenants, open_)
    return requests


def build_monitoring_sensors(monitor: LocationMonitor, interval_seconds: int) -> list:
    product_keys = list(monitor.assets)

    @dg.sensor(
        name=f"{monitor.location}_monitoring",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_seconds,
        target=dg.AssetSelection.assets(*product_keys) if product_keys else None,
        description=(
            "Duration SLAs, failed checks, stale products (re-run once inputs are healthy), "
            "cost per run and tenant budgets; alerts owners once per incident."
        ),
    )
    def monitoring(context: dg.SensorEvaluationContext):
        cursor = MonitorCursor.parse(context.cursor)
        requests = tick(monitor, context.instance, cursor)
        context.update_cursor(cursor.dump())
        return requests or dg.SkipReason("nothing to request")

    return [run_failure_sensor(monitor, interval_seconds), monitoring]
