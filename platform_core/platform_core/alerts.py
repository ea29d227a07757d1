"""The platform's alert path: one `send_alert` call, several channels, none able to block another.

Minimal on purpose (issue 7 extends it with Slack/e-mail channels behind the same
`AlertChannel` interface). Two channels always work here:

- `LogChannel`: the `mesh.alerts` logger (shows in the Dagster run/sensor logs);
- `WarehouseAlertChannel`: a row in `mesh_alerts.alerts` of the environment's warehouse, so
  alerts are queryable, testable and visible to downstream dashboards.

An alert names its recipients (owners from a registry or products.yaml), the thing at fault and
the fix, like every error of the mesh.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from platform_core.identifiers import qualified
from platform_core.warehouse.base import Warehouse

ALERT_SCHEMA = "mesh_alerts"
ALERT_TABLE = "alerts"
logger = logging.getLogger("mesh.alerts")


@dataclass(frozen=True)
class Alert:
    source: str  # who raises it, e.g. "tenant_sync"
    subject: str  # the thing at fault, e.g. "tenant t002"
    message: str  # what happened and the fix
    recipients: tuple[str, ...]  # owners: team:<name> or e-mail addresses
    severity: str = "error"  # error | warning | info
    context: Mapping[str, str] = field(default_factory=dict)
    raised_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class AlertChannel(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


class LogChannel:
    name = "log"

    def send(self, alert: Alert) -> None:
        level = logging.ERROR if alert.severity == "error" else logging.WARNING
        logger.log(
            level,
            "[%s] %s -> %s: %s",
            alert.source,
            alert.subject,
            ", ".join(alert.recipients),
            alert.message,
        )


class WarehouseAlertChannel:
    name = "warehouse"

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def send(self, alert: Alert) -> None:
        table = qualified(ALERT_SCHEMA, ALERT_TABLE)
        values = [
            alert.raised_at.replace(tzinfo=None).isoformat(sep=" "),
            alert.source,
            alert.severity,
            alert.subject,
            alert.message,
            ", ".join(alert.recipients),
            json.dumps(dict(alert.context), sort_keys=True),
        ]
        literals = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
        with self.warehouse.session() as session:
            session.ensure_schema(ALERT_SCHEMA)
            session.execute(
                f"create table if not exists {table} (raised_at timestamp, source varchar, "
                "severity varchar, subject varchar, message varchar, recipients varchar, "
                "context varchar)"
            )
            session.execute(f"insert into {table} values ({literals})")


def send_alert(alert: Alert, channels: Sequence[AlertChannel]) -> list[str]:
    """Deliver on every channel; a failing channel is logged, the others still deliver.

    Returns the names of the channels that delivered.
    """
    delivered = []
    for channel in channels:
        try:
            channel.send(alert)
            delivered.append(channel.name)
        except Exception:  # one broken channel must not swallow the alert on the others
            logger.exception("alert channel %s failed for %s", channel.name, alert.subject)
    return delivered


def default_channels(warehouse: Warehouse) -> list[AlertChannel]:
    return [LogChannel(), WarehouseAlertChannel(warehouse)]
