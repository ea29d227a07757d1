"""Runs an earlier `./mesh up` left queued or in flight, reconciled before Dagster starts.

When this runs no other session can be serving this instance (we hold its lock), so a run that
is STARTING, STARTED or CANCELING has lost its process: it is marked canceled (quietly: only
failures alert and retry). A queued run is kept for the new session, except a stream's while the
stream is off: it could only fail against a broker that is not there. A canceled stream run's
offsets count as uncovered, so the stream sensor plans them again once the stream is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg
from platform_core.streaming.sensor import STREAM_TAG

IN_FLIGHT = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dataclass
class Reconciled:
    in_flight: list[str] = field(default_factory=list)
    stream_queued: list[str] = field(default_factory=list)

    def summary(self) -> str | None:
        parts = []
        if self.in_flight:
            parts.append(f"{len(self.in_flight)} run(s) left in flight")
        if self.stream_queued:
            parts.append(f"{len(self.stream_queued)} queued stream run(s) (the stream is off)")
        if not parts:
            return None
        return f"canceled {' and '.join(parts)}"


def reconcile_stale_runs(instance: dg.DagsterInstance, stream_on: bool, reason: str) -> Reconciled:
    done = Reconciled()
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_FLIGHT)):
        run = record.dagster_run
        instance.report_run_canceled(run, message=f"Canceled: {reason}")
        done.in_flight.append(run.run_id)
    if not stream_on:
        done.stream_queued = cancel_queued_stream_runs(
            instance, "the click-stream is off in this session (--no-stream)"
        )
    return done


def cancel_queued_stream_runs(instance: dg.DagsterInstance, reason: str) -> list[str]:
    """Cancel every queued run of a stream; returns their ids."""
    canceled = []
    queued = instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
    for record in queued:
        run = record.dagster_run
        if STREAM_TAG in run.tags:
            instance.report_run_canceled(run, message=f"Canceled: {reason}")
            canceled.append(run.run_id)
    return canceled
