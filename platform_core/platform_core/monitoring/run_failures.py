"""Run failures: alert the owners of the failed assets (or the tenant's contacts) once
automatic retries are exhausted, with the run link, the failing step and the error; a run
stopped at `dagster/max_runtime` is reported as such. A later materialization resolves it."""

from collections.abc import Sequence

import dagster as dg

from platform_core.monitoring.incidents import Alert, AlertKind, Incident
from platform_core.monitoring.location import LocationMonitor

# Dagster's run tags for automatic re-execution (run_retries in the instance's dagster.yaml).
WILL_RETRY_TAG = "dagster/will_retry"
MAX_RETRIES_TAG = "dagster/max_retries"
RETRY_NUMBER_TAG = "dagster/retry_number"
CHECK_FAILED_ERROR = "DagsterAssetCheckFailedError"


def will_retry(run: dg.DagsterRun, instance: dg.DagsterInstance) -> bool:
    """Whether Dagster's run-retry daemon will re-execute this failed run. Dagster tags the
    failed run with its decision (`dagster/will_retry`); until then, the same rule: retries
    enabled, and fewer re-executions in the run's group than its `dagster/max_retries` (or
    the instance's `run_retries.max_retries`)."""
    tagged = run.tags.get(WILL_RETRY_TAG)
    if tagged is not None:
        return tagged.lower() == "true"
    if not instance.run_retries_enabled or run.status != dg.DagsterRunStatus.FAILURE:
        return False
    raw = run.tags.get(MAX_RETRIES_TAG)
    try:
        max_retries = instance.run_retries_max_retries if raw is None else int(raw)
    except ValueError:
        return False  # Dagster does not retry a run whose tag it cannot read either
    if max_retries <= 0:
        return False
    try:
        group = instance.get_run_group(run.run_id)
    except dg.DagsterRunNotFoundError:  # this run or its root run was deleted
        return False
    return group is not None and len(list(group[1])) <= max_retries


def first_line(text: str | None, limit: int = 300) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line[:limit]


def root_cause(error):
    """The user's own exception, not Dagster's "error occurred while executing" wrapper."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error


def failed_assets(
    monitor: LocationMonitor, run: dg.DagsterRun, failed_steps: Sequence[str]
) -> list[dg.AssetKey]:
    by_step = {key.to_python_identifier(): key for key in monitor.assets}
    from_steps = [by_step[s] for s in failed_steps if s in by_step]
    if from_steps:
        return from_steps
    selected = run.asset_selection or set(monitor.assets)
    return sorted((k for k in selected if k in monitor.assets), key=lambda k: k.path)


def alert_run_failure(
    monitor: LocationMonitor,
    run: dg.DagsterRun,
    message: str | None,
    steps: Sequence[tuple[str, str]],
) -> bool:
    keys = failed_assets(monitor, run, [step for step, _ in steps])
    refs = ",".join(k.to_user_string() for k in keys) or run.job_name
    stopped = "maximum runtime" in (message or "")
    kind = AlertKind.MAX_RUNTIME if stopped else AlertKind.RUN_FAILURE
    recipients, scope = monitor.recipients(run, keys)
    details = {"Run": run.run_id, "Job": run.job_name}
    if stopped:  # the run monitor's reason says more than the interrupted step's error
        details["Error"] = first_line(message)
        if steps:
            details["Failing step"] = ", ".join(step for step, _ in steps)
    elif steps:
        details["Failing step"] = ", ".join(step for step, _ in steps)
        details["Error"] = " | ".join(error for _, error in steps)
    else:
        details["Error"] = first_line(message) or "run failed before any step"
    retry = run.tags.get(RETRY_NUMBER_TAG)
    if retry:
        details["Attempt"] = f"{int(retry) + 1} (retries exhausted)"
    title = (
        f"{refs}: run stopped at its hard time limit"
        if stopped
        else f"{refs}: run failed in {monitor.location}"
    )
    return monitor.router().raise_incident(
        Alert(
            incident_key=f"{kind.value}:{monitor.location}:{refs}",
            kind=kind,
            title=title,
            recipients=recipients,
            scope=scope,
            link=monitor.run_link(run.run_id),
            details=details,
        )
    )


def alert_if_stopped_at_limit(
    monitor: LocationMonitor, instance: dg.DagsterInstance, run: dg.DagsterRun
) -> None:
    """Run monitoring cancels a run over its limit; depending on how the run worker winds
    down it ends FAILED (the failure sensor alerts) or CANCELED (alerted here). Both raise the
    same incident, so it is alerted once either way."""
    for event in instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.RUN_CANCELING
    ).records:
        message = event.event_log_entry.dagster_event.message or ""
        if "maximum runtime" in message:
            alert_run_failure(monitor, run, message, [])
            return


def resolve_failures(
    monitor: LocationMonitor, instance: dg.DagsterInstance, open_: Sequence[Incident]
) -> None:
    """A failure incident clears when every asset it named has materialized since."""
    router = monitor.router()
    for incident in open_:
        if incident.kind not in {AlertKind.RUN_FAILURE, AlertKind.MAX_RUNTIME}:
            continue
        prefix = f"{incident.kind}:{monitor.location}:"
        if not incident.key.startswith(prefix):
            continue
        refs = incident.key.removeprefix(prefix).split(",")
        keys = [dg.AssetKey.from_user_string(r) for r in refs if "/" in r]
        latest = [instance.get_latest_materialization_event(k) for k in keys]
        if keys and all(e is not None and e.timestamp > incident.opened_at for e in latest):
            router.resolve_incident(incident.key, "materialized successfully since")


def run_failure_sensor(monitor: LocationMonitor, interval_seconds: int):
    """`<location>_run_failure_alerts`: sees only this location's runs."""

    @dg.run_failure_sensor(
        name=f"{monitor.location}_run_failure_alerts",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_seconds,
        description=(
            f"Alerts the owners of {monitor.location}'s failed assets (or the tenant's contacts) "
            "once automatic retries are exhausted."
        ),
    )
    def run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
        # A tick handles every run that failed since the last one, and Dagster refuses a tick
        # whose runs return both a reaction and a SkipReason: a skip is logged, never returned.
        def skip(reason: str) -> None:
            context.log.info(reason)

        run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
        if run.job_name in monitor.self_alerting_jobs:
            return skip(f"{run.job_name} alerts its own failures")
        if will_retry(run, context.instance):
            return skip(f"run {run.run_id} will be retried; alerting after the last try")
        errors = [
            (event.step_key or "", event.step_failure_data.error)
            for event in context.get_step_failure_events()
            if event.step_failure_data and event.step_failure_data.error
        ]
        if errors and all(e.cls_name == CHECK_FAILED_ERROR for _, e in errors):
            # A failed blocking check is a data-quality incident, alerted (once) by the
            # monitoring sensor with the check's result; not a second "run failed" message.
            return skip("only blocking checks failed; reported as a check incident")
        steps = [(step, first_line(root_cause(error).message)) for step, error in errors]
        sent = alert_run_failure(monitor, run, context.failure_event.message, steps)
        if not sent:
            skip("incident already open; not alerting again")

    return run_failure_alerts
