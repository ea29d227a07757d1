"""The one alert path: incidents are opened and resolved here, and delivered to every channel.

Every monitoring rule (run failures, duration, checks, freshness, budgets) and any platform
component that needs to tell someone something calls `AlertRouter`. It de-duplicates through
the incident store: an open incident alerts once; resolving it sends one "resolved" message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from platform_core.monitoring.channels import Channel, channels_from_env
from platform_core.monitoring.incidents import Alert, AlertKind, Incident, IncidentStore
from platform_core.warehouse.base import Warehouse

log = logging.getLogger("mesh.alerts")


class AlertRouter:
    def __init__(self, warehouse: Warehouse, channels: Sequence[Channel] | None = None) -> None:
        self.warehouse = warehouse
        self.channels = list(channels) if channels is not None else channels_from_env(os.environ)

    def raise_incident(self, alert: Alert) -> bool:
        """Open the incident and alert its recipients; False if it was already open."""
        with self.warehouse.session() as session:
            store = IncidentStore(session)
            if store.open_incident(alert.incident_key) is not None:
                return False
            store.open(alert)
        self._deliver(alert)
        return True

    def resolve_incident(self, key: str, note: str = "") -> bool:
        """Close an open incident and send "resolved" to the same recipients; False if none."""
        with self.warehouse.session() as session:
            store = IncidentStore(session)
            incident = store.open_incident(key)
            if incident is None:
                return False
            store.resolve(key)
        self._deliver(_alert_of(incident).resolved(note))
        return True

    def open_incidents(self, kind: str | None = None) -> list[Incident]:
        with self.warehouse.session() as session:
            incidents = IncidentStore(session).incidents("open")
        return [i for i in incidents if kind is None or i.kind == kind]

    def notify(self, alert: Alert) -> None:
        """A one-off message with no incident to track (e.g. a registry entry was skipped)."""
        self._deliver(alert)

    def _deliver(self, alert: Alert) -> None:
        delivered = []
        for channel in self.channels:
            try:
                channel.deliver(alert)
                delivered.append(channel.name)
            except Exception as exc:  # one broken channel must not silence the others
                log.error(
                    "alert channel %s failed for %s: %s", channel.name, alert.incident_key, exc
                )
                delivered.append(f"{channel.name}:failed")
        with self.warehouse.session() as session:
            IncidentStore(session).record_delivery(alert, delivered)


def _alert_of(incident: Incident) -> Alert:
    known = {kind.value for kind in AlertKind}
    kind = AlertKind(incident.kind) if incident.kind in known else AlertKind.PLATFORM
    return Alert(incident.key, kind, incident.title, incident.recipients, incident.scope)
