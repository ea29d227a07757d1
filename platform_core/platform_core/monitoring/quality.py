"""Data quality: a failed blocking check alerts its product's owners until the check passes
again (re-run) or is waived (`meshctl waive`, see waivers.py); downstream automation holds."""

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg

from platform_core.monitoring.incidents import Alert, AlertKind
from platform_core.monitoring.location import LocationMonitor

WAIVED_BY = "waived_by"
# Values of Dagster's check execution status (its enum is not exported; the values are stable).
FAILED = "FAILED"
SUCCEEDED = "SUCCEEDED"


def latest_check_records(
    instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey]
) -> Mapping[dg.AssetCheckKey, Any]:
    """The latest execution record of each check that has one."""
    return instance.event_log_storage.get_latest_asset_check_execution_by_key(list(check_keys))


def check_failed(record: Any) -> bool:
    return record.status.value == FAILED


def check_quality(monitor: LocationMonitor, instance: dg.DagsterInstance) -> None:
    router = monitor.router()
    check_keys = [c for a in monitor.assets.values() for c in a.checks]
    for check_key, record in latest_check_records(instance, check_keys).items():
        incident_key = (
            f"{AlertKind.CHECK_FAILED}:{check_key.asset_key.to_user_string()}:{check_key.name}"
        )
        evaluation = (
            record.event.dagster_event.event_specific_data
            if record.event and record.event.dagster_event
            else None
        )
        if check_failed(record):
            asset = monitor.assets[check_key.asset_key]
            description = getattr(evaluation, "description", None) or "check failed"
            router.raise_incident(
                Alert(
                    incident_key=incident_key,
                    kind=AlertKind.CHECK_FAILED,
                    title=f"{asset.ref}: blocking check {check_key.name} failed",
                    recipients=asset.owners,
                    scope=monitor.scope,
                    link=monitor.run_link(record.run_id),
                    details={
                        "Check": check_key.name,
                        "Result": description,
                        "Held": "downstream automation waits until this check passes",
                        "To release": f"fix and re-materialize {asset.ref}, or "
                        f"`meshctl waive {asset.ref} {check_key.name} --reason ...`",
                    },
                )
            )
        elif record.status.value == SUCCEEDED:
            metadata = getattr(evaluation, "metadata", {}) or {}
            waived = metadata.get(WAIVED_BY)
            note = (
                f"waived by {waived.value}: {metadata['reason'].value}"
                if waived is not None and "reason" in metadata
                else "the check passes again"
            )
            router.resolve_incident(incident_key, note)
