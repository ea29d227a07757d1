"""The monitoring rules, as two sensors per code location (added by build_domain_definitions).

Per location, not one platform-wide sensor: each location's sensors know its products'
owners, SLAs and checks from its own declarations, tick in its own code server, and keep
working when another location fails to load. A location's failure sensor sees only its own
runs, so a tenant's or domain's failure never reaches anyone else.

- `<location>_run_failure_alerts` (run_failure_sensor): alerts the owners of the failed assets,
  or the tenant's contacts, once automatic retries are exhausted (`dagster/will_retry`), with
  the run link, the failing step and the error; a run stopped at `dagster/max_runtime` is
  reported as such.
- `<location>_monitoring` (every tick): long-running runs, open failure incidents resolved by a
  later materialization, failed blocking checks (alert until re-run or waived), stale products
  (alert, and request a run once upstreams are healthy), cost per finished run and tenant
  budgets (warning at 80%, over budget: alert and a lower pool limit for that tenant only).
"""

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.tags import MAX_RUNTIME_SECONDS_TAG, WILL_RETRY_TAG

from platform_core.environment import Environment
from platform_core.monitoring.cost import (
    BudgetStatus,
    CostRates,
    current_month,
    measure_run,
    monthly_spend,
    record_cost,
)
from platform_core.monitoring.incidents import Alert, AlertKind, Incident
from platform_core.monitoring.router import AlertRouter
from platform_core.monitoring.tenants import TENANT_TAG, TenantDirectory, TenantProfile
from platform_core.products.declaration import ProductDeclaration, parse_duration
from platform_core.warehouse.base import Warehouse

DAGSTER_URL = "MESH_DAGSTER_URL"
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
WAIVED_BY = "waived_by"
CHECK_FAILED_ERROR = "DagsterAssetCheckFailedError"


@dataclass(frozen=True)
class MonitoredAsset:
    key: dg.AssetKey
    owners: tuple[str, ...]
    checks: tuple[dg.AssetCheckKey, ...] = ()
    inputs: tuple[dg.AssetKey, ...] = ()
    fail_after_seconds: float | None = None
    expected_runtime_seconds: int | None = None
    max_runtime_seconds: int | None = None

    @property
    def ref(self) -> str:
        return self.key.to_user_string()


def monitored_product(
    product: ProductDeclaration, checks: Iterable[dg.AssetCheckKey]
) -> MonitoredAsset:
    return MonitoredAsset(
        key=product.key,
        owners=tuple(product.owners),
        checks=tuple(checks),
        inputs=tuple(dg.AssetKey(ref.split("/", 1)) for ref in product.inputs),
        fail_after_seconds=parse_duration(product.sla.fail_after).total_seconds(),
        expected_runtime_seconds=product.sla.expected_runtime_seconds,
        max_runtime_seconds=product.sla.max_runtime_seconds,
    )


def will_retry(run: dg.DagsterRun, instance: dg.DagsterInstance) -> bool:
    """Whether Dagster's run-retry daemon will re-execute this failed run (the instance's
    `run_retries` and the run's dagster/max_retries and dagster/retry_number tags decide)."""
    tagged = run.tags.get(WILL_RETRY_TAG)
    if tagged is not None:
        return tagged.lower() == "true"
    if not instance.run_retries_enabled:
        return False
    from dagster._core.execution.retries import auto_reexecution_should_retry_run

    return bool(auto_reexecution_should_retry_run(instance, run, None))


def run_location(run: dg.DagsterRun) -> str | None:
    origin = run.remote_job_origin
    return origin.location_name if origin is not None else None


def _first_line(text: str | None, limit: int = 300) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line[:limit]


def _root_cause(error):
    """The user's own exception, not Dagster's "error occurred while executing" wrapper."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error


@dataclass
class MonitorCursor:
    costs_after: float = 0.0
    retriggered: dict[str, float] = field(default_factory=dict)  # asset -> stale mat. timestamp

    @classmethod
    def parse(cls, raw: str | None) -> "MonitorCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(float(data.get("costs_after", 0.0)), dict(data.get("retriggered", {})))

    def dump(self) -> str:
        return json.dumps({"costs_after": self.costs_after, "retriggered": self.retriggered})


@dataclass
class LocationMonitor:
    """Everything the rules need to know about one location; the sensors call its methods."""

    location: str
    assets: dict[dg.AssetKey, MonitoredAsset]
    mesh_assets: dict[dg.AssetKey, MonitoredAsset]  # every product of the mesh (upstreams)
    tenants: TenantDirectory
    env: Environment
    warehouse: Warehouse
    tenant: str | None = None  # a location dedicated to one tenant
    rates: CostRates = field(default_factory=CostRates)
    channels: Sequence | None = None  # None: from the environment (see channels.py)
    # Jobs that alert their own failures (tenant sync names the tenant and the backfill fix).
    self_alerting_jobs: frozenset[str] = frozenset()

    @property
    def scope(self) -> str:
        return f"domain:{self.location}"

    def router(self) -> AlertRouter:
        return AlertRouter(self.warehouse, self.channels)

    def run_link(self, run_id: str) -> str:
        base = os.environ.get(DAGSTER_URL, "http://127.0.0.1:3000").rstrip("/")
        return f"{base}/runs/{run_id}"

    def tenant_of(self, run: dg.DagsterRun) -> TenantProfile | None:
        tenant_id = run.tags.get(TENANT_TAG) or self.tenant
        return self.tenants.get(tenant_id) if tenant_id else None

    def owners_of(self, keys: Iterable[dg.AssetKey]) -> tuple[str, ...]:
        owners = {o for k in keys if k in self.assets for o in self.assets[k].owners}
        return tuple(sorted(owners))

    def recipients(self, run: dg.DagsterRun, keys: Iterable[dg.AssetKey]) -> tuple[tuple, str]:
        tenant = self.tenant_of(run)
        if tenant is not None:
            return tenant.contacts, f"tenant:{tenant.id}"
        return self.owners_of(keys), self.scope

    def run_tags(self) -> dict[str, str]:
        """Tags for every run the platform launches here: the hard run-time limit (enforced by
        run monitoring) and, in a tenant's own location, the tenant."""
        tags: dict[str, str] = {}
        limits = [a.max_runtime_seconds for a in self.assets.values() if a.max_runtime_seconds]
        tenant = self.tenants.get(self.tenant) if self.tenant else None
        if tenant is not None and tenant.max_runtime_seconds:
            limits = [tenant.max_runtime_seconds]
        if limits:
            tags[MAX_RUNTIME_SECONDS_TAG] = str(max(limits))
        if self.tenant:
            tags[TENANT_TAG] = self.tenant
        return tags

    # -- run failures -------------------------------------------------------------------

    def failed_assets(self, run: dg.DagsterRun, failed_steps: Sequence[str]) -> list[dg.AssetKey]:
        by_step = {key.to_python_identifier(): key for key in self.assets}
        from_steps = [by_step[s] for s in failed_steps if s in by_step]
        if from_steps:
            return from_steps
        selected = run.asset_selection or set(self.assets)
        return sorted((k for k in selected if k in self.assets), key=lambda k: k.path)

    def alert_run_failure(
        self, run: dg.DagsterRun, message: str | None, steps: Sequence[tuple[str, str]]
    ) -> bool:
        keys = self.failed_assets(run, [step for step, _ in steps])
        refs = ",".join(k.to_user_string() for k in keys) or run.job_name
        stopped = "maximum runtime" in (message or "")
        kind = AlertKind.MAX_RUNTIME if stopped else AlertKind.RUN_FAILURE
        recipients, scope = self.recipients(run, keys)
        details = {"Run": run.run_id, "Job": run.job_name}
        if stopped:  # the run monitor's reason says more than the interrupted step's error
            details["Error"] = _first_line(message)
            if steps:
                details["Failing step"] = ", ".join(step for step, _ in steps)
        elif steps:
            details["Failing step"] = ", ".join(step for step, _ in steps)
            details["Error"] = " | ".join(error for _, error in steps)
        else:
            details["Error"] = _first_line(message) or "run failed before any step"
        retry = run.tags.get("dagster/retry_number")
        if retry:
            details["Attempt"] = f"{int(retry) + 1} (retries exhausted)"
        title = (
            f"{refs}: run stopped at its hard time limit"
            if stopped
            else f"{refs}: run failed in {self.location}"
        )
        return self.router().raise_incident(
            Alert(
                incident_key=f"{kind.value}:{self.location}:{refs}",
                kind=kind,
                title=title,
                recipients=recipients,
                scope=scope,
                link=self.run_link(run.run_id),
                details=details,
            )
        )

    def alert_if_stopped_at_limit(self, instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
        """Run monitoring cancels a run over its limit; depending on how the run worker
        winds down it ends FAILED (the failure sensor alerts) or CANCELED (alerted here).
        Both raise the same incident, so it is alerted once either way."""
        for event in instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_CANCELING
        ).records:
            message = event.event_log_entry.dagster_event.message or ""
            if "maximum runtime" in message:
                self.alert_run_failure(run, message, [])
                return

    def resolve_failures(self, instance: dg.DagsterInstance, open_: Sequence[Incident]) -> None:
        """A failure incident clears when every asset it named has materialized since."""
        router = self.router()
        for incident in open_:
            if incident.kind not in {AlertKind.RUN_FAILURE, AlertKind.MAX_RUNTIME}:
                continue
            prefix = f"{incident.kind}:{self.location}:"
            if not incident.key.startswith(prefix):
                continue
            refs = incident.key.removeprefix(prefix).split(",")
            keys = [dg.AssetKey.from_user_string(r) for r in refs if "/" in r]
            latest = [instance.get_latest_materialization_event(k) for k in keys]
            if keys and all(e is not None and e.timestamp > incident.opened_at for e in latest):
                router.resolve_incident(incident.key, "materialized successfully since")

    # -- duration SLA -------------------------------------------------------------------

    def expected_seconds(self, run: dg.DagsterRun) -> int | None:
        tenant = self.tenant_of(run)
        if tenant is not None and tenant.expected_runtime_seconds:
            return tenant.expected_runtime_seconds
        keys = run.asset_selection or set(self.assets)
        values = [
            self.assets[k].expected_runtime_seconds
            for k in keys
            if k in self.assets and self.assets[k].expected_runtime_seconds
        ]
        return max(values) if values else None

    def hard_limit_seconds(self, run: dg.DagsterRun) -> int | None:
        """The run's own limit: its tenant's, else that of the slowest product it builds."""
        tenant = self.tenant_of(run)
        if tenant is not None and tenant.max_runtime_seconds:
            return tenant.max_runtime_seconds
        keys = run.asset_selection or set(self.assets)
        values = [
            self.assets[k].max_runtime_seconds
            for k in keys
            if k in self.assets and self.assets[k].max_runtime_seconds
        ]
        return max(values) if values else None

    def tighten_hard_limit(self, instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
        """Runs are launched with the location's widest limit (a job's tags are fixed); once a
        run is known to build only some products, narrow `dagster/max_runtime` to theirs.
        Run monitoring reads the tag on every poll."""
        limit = self.hard_limit_seconds(run)
        current = run.tags.get(MAX_RUNTIME_SECONDS_TAG)
        if limit and (current is None or float(current) > limit):
            instance.add_run_tags(run.run_id, {MAX_RUNTIME_SECONDS_TAG: str(limit)})

    def check_durations(
        self, instance: dg.DagsterInstance, open_: Sequence[Incident], now: float
    ) -> None:
        router = self.router()
        prefix = f"{AlertKind.LONG_RUNNING}:{self.location}:"
        for record in instance.get_run_records(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
        ):
            run = record.dagster_run
            if run_location(run) != self.location or record.start_time is None:
                continue
            self.tighten_hard_limit(instance, run)
            expected = self.expected_seconds(run)
            elapsed = now - record.start_time
            if expected is None or elapsed <= expected:
                continue
            keys = sorted(run.asset_selection or self.assets, key=lambda k: k.path)
            recipients, scope = self.recipients(run, keys)
            limit = run.tags.get(MAX_RUNTIME_SECONDS_TAG)
            router.raise_incident(
                Alert(
                    incident_key=f"{prefix}{run.run_id}",
                    kind=AlertKind.LONG_RUNNING,
                    title=f"{run.job_name} in {self.location} is running longer than expected",
                    recipients=recipients,
                    scope=scope,
                    link=self.run_link(run.run_id),
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

    # -- data quality -------------------------------------------------------------------

    def check_quality(self, instance: dg.DagsterInstance) -> None:
        router = self.router()
        check_keys = [c for a in self.assets.values() for c in a.checks]
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
        status = AssetCheckExecutionRecordStatus
        for check_key, record in latest.items():
            incident_key = (
                f"{AlertKind.CHECK_FAILED}:{check_key.asset_key.to_user_string()}:{check_key.name}"
            )
            evaluation = (
                record.event.dagster_event.event_specific_data
                if record.event and record.event.dagster_event
                else None
            )
            if record.status == status.FAILED:
                asset = self.assets[check_key.asset_key]
                description = getattr(evaluation, "description", None) or "check failed"
                router.raise_incident(
                    Alert(
                        incident_key=incident_key,
                        kind=AlertKind.CHECK_FAILED,
                        title=f"{asset.ref}: blocking check {check_key.name} failed",
                        recipients=asset.owners,
                        scope=self.scope,
                        link=self.run_link(record.run_id),
                        details={
                            "Check": check_key.name,
                            "Result": description,
                            "Held": "downstream automation waits until this check passes",
                            "To release": f"fix and re-materialize {asset.ref}, or "
                            f"`meshctl waive {asset.ref} {check_key.name} --reason ...`",
                        },
                    )
                )
            elif record.status == status.SUCCEEDED:
                metadata = getattr(evaluation, "metadata", {}) or {}
                waived = metadata.get(WAIVED_BY)
                note = (
                    f"waived by {waived.value}: {metadata['reason'].value}"
                    if waived is not None and "reason" in metadata
                    else "the check passes again"
                )
                router.resolve_incident(incident_key, note)

    # -- freshness ----------------------------------------------------------------------

    def _is_healthy(self, instance: dg.DagsterInstance, key: dg.AssetKey, now: float) -> bool:
        asset = self.mesh_assets.get(key)
        latest = instance.get_latest_materialization_event(key)
        if latest is None:
            return False
        if asset is None:
            return True
        if asset.fail_after_seconds and now - latest.timestamp > asset.fail_after_seconds:
            return False
        status = AssetCheckExecutionRecordStatus
        records = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            list(asset.checks)
        )
        return all(r.status != status.FAILED for r in records.values())

    def _in_progress(self, instance: dg.DagsterInstance, key: dg.AssetKey) -> bool:
        for record in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
            run = record.dagster_run
            if run_location(run) == self.location and (
                run.asset_selection is None or key in run.asset_selection
            ):
                return True
        return False

    def check_freshness(
        self, instance: dg.DagsterInstance, cursor: MonitorCursor, now: float
    ) -> list[dg.RunRequest]:
        router = self.router()
        requests = []
        for asset in self.assets.values():
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
                i.to_user_string() for i in asset.inputs if not self._is_healthy(instance, i, now)
            ]
            router.raise_incident(
                Alert(
                    incident_key=incident_key,
                    kind=AlertKind.STALE,
                    title=f"{asset.ref} is stale",
                    recipients=asset.owners,
                    scope=self.scope,
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
            if self._in_progress(instance, asset.key):
                continue
            cursor.retriggered[asset.ref] = latest.timestamp
            requests.append(
                dg.RunRequest(
                    run_key=f"stale:{asset.ref}:{latest.timestamp}",
                    asset_selection=[asset.key],
                    tags={**self.run_tags(), "mesh/trigger": "freshness"},
                )
            )
        return requests

    # -- cost and budgets ---------------------------------------------------------------

    def record_costs(self, instance: dg.DagsterInstance, cursor: MonitorCursor) -> set[str]:
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
            if run_location(run) != self.location or "mesh/cost_usd" in run.tags:
                continue
            if run.status == dg.DagsterRunStatus.CANCELED:
                self.alert_if_stopped_at_limit(instance, run)
            cost = measure_run(instance, record, self.location, self.env, self.rates)
            if self.tenant and cost.tenant is None:
                cost = replace(cost, tenant=self.tenant)
            with self.warehouse.session() as session:
                record_cost(session, cost)
            instance.add_run_tags(run.run_id, cost.tags())
            if cost.tenant:
                tenants.add(cost.tenant)
        return tenants

    def check_budgets(
        self, instance: dg.DagsterInstance, tenants: Iterable[str], open_: Sequence[Incident]
    ) -> None:
        month = current_month()
        router = self.router()
        # Tenants with an open budget incident are re-evaluated too (a new month clears them).
        budget_kinds = {AlertKind.OVER_BUDGET, AlertKind.BUDGET_WARNING}
        for incident in open_:
            if incident.kind in budget_kinds and incident.scope.startswith("tenant:"):
                tenants = {*tenants, incident.scope.removeprefix("tenant:")}
        if not tenants:
            return
        with self.warehouse.session() as session:
            spend = monthly_spend(session, "tenant", month)
        for tenant_id in sorted(tenants):
            profile = self.tenants.get(tenant_id)
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
                router.raise_incident(
                    self._budget_alert(profile, status, AlertKind.OVER_BUDGET, month)
                )
            elif status.warning:
                router.raise_incident(
                    self._budget_alert(profile, status, AlertKind.BUDGET_WARNING, month)
                )
            throttle_tenant(instance, profile, throttled=status.over)

    def _budget_alert(
        self, profile: TenantProfile, status: BudgetStatus, kind: AlertKind, month: str
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
                    f"lowered to {profile_throttled_slots(profile)} (pool {profile.pool}) "
                    "until the budget is raised or the month ends"
                    if over
                    else f"unchanged ({profile.max_concurrent_runs}, pool {profile.pool})"
                ),
            },
        )

    # -- the tick -----------------------------------------------------------------------

    def tick(self, instance: dg.DagsterInstance, cursor: MonitorCursor) -> list[dg.RunRequest]:
        now = time.time()
        open_ = self.router().open_incidents()
        self.check_durations(instance, open_, now)
        self.resolve_failures(instance, open_)
        self.check_quality(instance)
        requests = self.check_freshness(instance, cursor, now)
        tenants = self.record_costs(instance, cursor)
        self.check_budgets(instance, tenants, open_)
        return requests


def profile_throttled_slots(profile: TenantProfile) -> int:
    """Over budget, a tenant's pool drops to one step at a time (at most half its limit)."""
    return max(1, profile.max_concurrent_runs // 2) if profile.max_concurrent_runs > 1 else 1


def throttle_tenant(instance: dg.DagsterInstance, profile: TenantProfile, throttled: bool) -> int:
    """Set the tenant's pool limit: normal, or lowered while over budget. Other tenants'
    pools are never touched. Returns the limit now in force."""
    slots = profile_throttled_slots(profile) if throttled else profile.max_concurrent_runs
    storage = instance.event_log_storage
    current = storage.get_concurrency_info(profile.pool).slot_count
    if current != slots:
        storage.set_concurrency_slots(profile.pool, slots)
    return slots


def build_monitoring_sensors(monitor: LocationMonitor, interval_seconds: int) -> list:
    @dg.run_failure_sensor(
        name=f"{monitor.location}_run_failure_alerts",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=interval_seconds,
        description=(
            f"Alerts the owners of {monitor.location}'s failed assets (or the tenant's contacts) "
            "once automatic retries are exhausted."
        ),
    )
    def run_failure_alerts(context: dg.RunFailureSensorContext):
        run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
        if run.job_name in monitor.self_alerting_jobs:
            return dg.SkipReason(f"{run.job_name} alerts its own failures")
        if will_retry(run, context.instance):
            return dg.SkipReason(f"run {run.run_id} will be retried; alerting after the last try")
        errors = [
            (event.step_key or "", event.step_failure_data.error)
            for event in context.get_step_failure_events()
            if event.step_failure_data and event.step_failure_data.error
        ]
        if errors and all(e.cls_name == CHECK_FAILED_ERROR for _, e in errors):
            # A failed blocking check is a data-quality incident, alerted (once) by the
            # monitoring sensor with the check's result; not a second "run failed" message.
            return dg.SkipReason("only blocking checks failed; reported as a check incident")
        steps = [(step, _first_line(_root_cause(error).message)) for step, error in errors]
        sent = monitor.alert_run_failure(run, context.failure_event.message, steps)
        return None if sent else dg.SkipReason("incident already open; not alerting again")

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
        requests = monitor.tick(context.instance, cursor)
        context.update_cursor(cursor.dump())
        return requests or dg.SkipReason("nothing to request")

    return [run_failure_alerts, monitoring]


def monitored_assets(
    products: Sequence[ProductDeclaration], checks: Sequence[dg.AssetChecksDefinition]
) -> dict[dg.AssetKey, MonitoredAsset]:
    by_asset: dict[dg.AssetKey, list[dg.AssetCheckKey]] = {}
    for definition in checks:
        for check_key in definition.check_keys:
            by_asset.setdefault(check_key.asset_key, []).append(check_key)
    return {p.key: monitored_product(p, by_asset.get(p.key, [])) for p in products}


def mesh_monitored_assets(
    products: Mapping[str, ProductDeclaration],
) -> dict[dg.AssetKey, MonitoredAsset]:
    from platform_core.products.checks import product_checks

    result = {}
    for product in products.values():
        keys = [k for c in product_checks(product) for k in c.check_keys]
        result[product.key] = monitored_product(product, keys)
    return result
