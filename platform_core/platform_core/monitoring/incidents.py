"""Incidents: what is wrong right now, who was told, and the delivery log, in the warehouse.

An incident has a stable key (e.g. `check_failed:sales/orders:row_count_drop`). Raising an
incident that is already open does nothing, so the same problem alerts once however often a
sensor sees it; resolving it sends one "resolved" message. Both tables live in the
`monitoring` schema of the environment's warehouse, so the local default needs no account and
the health report and the UI read the same rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from platform_core.warehouse.base import WarehouseSession

SCHEMA = "monitoring"
INCIDENTS = f"{SCHEMA}.incidents"
ALERTS = f"{SCHEMA}.alerts"


class AlertKind(StrEnum):
    RUN_FAILURE = "run_failure"
    LONG_RUNNING = "long_running"
    MAX_RUNTIME = "max_runtime"
    CHECK_FAILED = "check_failed"
    STALE = "stale"
    BUDGET_WARNING = "budget_warning"
    OVER_BUDGET = "over_budget"
    PLATFORM = "platform"  # anything else a platform component reports


class AlertState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alert:
    """One message about one incident, to its recipients (owners or tenant contacts)."""

    incident_key: str
    kind: AlertKind
    title: str
    recipients: tuple[str, ...]
    scope: str  # "domain:<name>" or "tenant:<id>": whose page the incident shows on
    body: str = ""
    link: str | None = None
    state: AlertState = AlertState.OPEN
    details: dict[str, str] = field(default_factory=dict)

    def resolved(self, note: str = "") -> Alert:
        return Alert(
            self.incident_key,
            self.kind,
            self.title,
            self.recipients,
            self.scope,
            body=note,
            link=self.link,
            state=AlertState.RESOLVED,
        )

    def text(self) -> str:
        """Plain text for e-mail and the log; Slack gets the same lines."""
        icon = "RESOLVED" if self.state is AlertState.RESOLVED else "ALERT"
        lines = [f"[{icon}] {self.title}", f"To: {', '.join(self.recipients)} ({self.scope})"]
        lines.extend(f"{name}: {value}" for name, value in self.details.items())
        if self.body:
            lines.append(self.body)
        if self.link:
            lines.append(f"Link: {self.link}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Incident:
    key: str
    kind: str
    scope: str
    recipients: tuple[str, ...]
    title: str
    status: str
    opened_at: float
    resolved_at: float | None


class IncidentStore:
    """The `monitoring.incidents` and `monitoring.alerts` tables (portable SQL)."""

    def __init__(self, session: WarehouseSession) -> None:
        self.session = session
        session.ensure_schema(SCHEMA)
        session.execute(
            f"create table if not exists {INCIDENTS} (incident_key varchar, kind varchar, "
            "scope varchar, recipients varchar, title varchar, status varchar, "
            "opened_at double, resolved_at double)"
        )
        session.execute(
            f"create table if not exists {ALERTS} (sent_at double, incident_key varchar, "
            "kind varchar, state varchar, scope varchar, recipients varchar, channels varchar, "
            "title varchar, message varchar)"
        )

    def _q(self, value: str | float | None) -> str:
        return self.session.literal(value)

    def open_incident(self, key: str) -> Incident | None:
        rows = self.session.fetch(
            "select incident_key, kind, scope, recipients, title, status, opened_at, resolved_at "
            f"from {INCIDENTS} where incident_key = {self._q(key)} and status = 'open'"
        )
        return _incident(rows[0]) if rows else None

    def incidents(self, status: str | None = "open") -> list[Incident]:
        where = f"where status = {self._q(status)}" if status else ""
        rows = self.session.fetch(
            "select incident_key, kind, scope, recipients, title, status, opened_at, resolved_at "
            f"from {INCIDENTS} {where} order by opened_at"
        )
        return [_incident(row) for row in rows]

    def open(self, alert: Alert) -> None:
        self.session.execute(
            f"insert into {INCIDENTS} values ({self._q(alert.incident_key)}, "
            f"{self._q(alert.kind.value)}, {self._q(alert.scope)}, "
            f"{self._q(','.join(alert.recipients))}, {self._q(alert.title)}, 'open', "
            f"{self._q(time.time())}, null)"
        )

    def resolve(self, key: str) -> None:
        self.session.execute(
            f"update {INCIDENTS} set status = 'resolved', resolved_at = {self._q(time.time())} "
            f"where incident_key = {self._q(key)} and status = 'open'"
        )

    def record_delivery(self, alert: Alert, channels: list[str]) -> None:
        self.session.execute(
            f"insert into {ALERTS} values ({self._q(time.time())}, "
            f"{self._q(alert.incident_key)}, {self._q(alert.kind.value)}, "
            f"{self._q(alert.state.value)}, {self._q(alert.scope)}, "
            f"{self._q(','.join(alert.recipients))}, {self._q(','.join(channels))}, "
            f"{self._q(alert.title)}, {self._q(alert.text())})"
        )

    def deliveries(self, incident_key: str | None = None) -> list[dict[str, str]]:
        where = f"where incident_key = {self._q(incident_key)}" if incident_key else ""
        rows = self.session.fetch(
            "select incident_key, kind, state, scope, recipients, channels, title, message "
            f"from {ALERTS} {where} order by sent_at"
        )
        names = ("incident_key", "kind", "state", "scope", "recipients", "channels", "title")
        return [dict(zip((*names, "message"), row, strict=True)) for row in rows]


def _incident(row: tuple) -> Incident:
    key, kind, scope, recipients, title, status, opened_at, resolved_at = row
    return Incident(
        key,
        kind,
        scope,
        tuple(r for r in str(recipients or "").split(",") if r),
        title,
        status,
        float(opened_at),
        None if resolved_at is None else float(resolved_at),
    )
