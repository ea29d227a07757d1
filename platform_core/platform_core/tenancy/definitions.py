"""Dagster definitions of tenant sync, shared by the `tenant_sync` location and by dedicated
per-tenant locations generated from the template (see `mesh_tooling.scaffold.tenant_location`).

- assets `tenant_sync/<table>`, partitioned by tenant (dynamic partitions named `tenants`), one
  atomic multi-asset per tenant run;
- blocking checks per table: row_count_match, checksum_match, schema_match (warehouse copy vs
  the source snapshot recorded by the sync); a failure hides the tenant from platform/tenant_*;
- sensors: registry -> partitions, per-tenant cron, failure alerts to the tenant's owners.
"""

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from platform_core.environment import current_environment
from platform_core.monitoring import Alert, AlertKind, AlertRouter, throttle_tags
from platform_core.monitoring.run_failures import first_line, root_cause
from platform_core.monitoring.storage import monitoring_warehouse
from platform_core.tenancy.grants import build_tenant_grants_job
from platform_core.tenancy.registry import Registry, TenantEntry, load_registry
from platform_core.tenancy.scheduling import (
    MAX_RETRIES,
    TENANT_TAG,
    due_tenants,
    partition_changes,
    run_tags,
)
from platform_core.tenancy.session import TenantSession, TenantWarehouse, tenant_session
from platform_core.tenancy.source import SYNCED_TABLES, SourceColumn
from platform_core.tenancy.sync import (
    mark_validated,
    sync_tenant,
    warehouse_fingerprint,
    warehouse_schema,
)
from platform_core.warehouse.base import Warehouse

TENANTS = dg.DynamicPartitionsDefinition(name="tenants")
LOCATION = "tenant_sync"
OWNERS = ["team:platform"]
CHECKS = {
    "row_count_match": "Warehouse rows equal the source rows of the synced snapshot.",
    "checksum_match": "Order-independent MD5 of every row equals the source's.",
    "schema_match": "Columns and types equal the source table's.",
}


def sync_asset_key(table: str, prefix: str = LOCATION) -> dg.AssetKey:
    return dg.AssetKey([prefix, table])


def tenant_source_url(tenant: TenantEntry) -> str:
    url = os.environ.get(tenant.source_env)
    if not url:
        raise dg.Failure(
            f"Tenant '{tenant.id}': environment variable {tenant.source_env} is not set. "
            "Fix: set it (or the secret) in the deployment; never put the URL in tenants.yaml."
        )
    return url


def _materialize(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    tenant: TenantEntry,
    tables: Sequence[str],
    prefix: str,
):
    report = sync_tenant(tenant, tenant_source_url(tenant), warehouse, tables)
    if report.extra_source_tables:
        context.log.warning(
            f"Tenant '{tenant.id}' has tables not synced: {report.extra_source_tables}"
        )
    for table, result in report.tables.items():
        yield dg.MaterializeResult(
            asset_key=sync_asset_key(table, prefix),
            metadata={
                "dagster/row_count": result.target_rows,
                "dagster/table_name": f"{warehouse.database}.{tenant.schema}.{table}",
                "tenant": tenant.id,
                "source_rows": result.source_rows,
                "source_checksum": result.source_checksum,
                "source_schema": json.dumps(result.source_schema),
                "sync_seconds": round(report.seconds, 3),
            },
        )


def build_sync_assets(
    registry_file: Path, tables: Sequence[str] = SYNCED_TABLES
) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="sync_tenant_database",
        specs=[
            dg.AssetSpec(
                sync_asset_key(table),
                partitions_def=TENANTS,
                owners=OWNERS,
                group_name=LOCATION,
                kinds={"postgres", current_environment().warehouse_kind},
                tags={"visibility": "internal"},
                description=f"The tenants' `{table}` table, one schema per tenant "
                "(tenant_<id>), refreshed atomically. Downstream reads platform/tenant_"
                f"{table}, never these schemas.",
            )
            for table in tables
        ],
        can_subset=False,  # one tenant's tables are swapped together or not at all
    )
    def sync_tenant_database(context: dg.AssetExecutionContext, warehouse: Warehouse):
        tenant = load_registry(registry_file).get(context.partition_key)
        yield from _materialize(context, warehouse, tenant, tables, LOCATION)

    return sync_tenant_database


def _recorded_source(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None
) -> dict[str, object]:
    filters = dg.AssetRecordsFilter(
        asset_key=key, asset_partitions=[partition] if partition else None
    )
    records = instance.fetch_materializations(filters, limit=1).records
    if not records or records[0].asset_materialization is None:
        raise dg.Failure(f"{key.to_user_string()} [{partition}]: never synced; nothing to check.")
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def platform_side(warehouse: Warehouse) -> Warehouse:
    """The platform's warehouse behind a tenant location's `TenantWarehouse`: platform code
    (sync orchestration, control table) uses it; the tenant's own assets never get it."""
    return warehouse.warehouse if isinstance(warehouse, TenantWarehouse) else warehouse


def evaluate_sync_check(
    check: str,
    warehouse: Warehouse,
    tenant_id: str,
    table: str,
    recorded: dict[str, object],
) -> dg.AssetCheckResult:
    """Compare the warehouse copy now with the source snapshot the sync recorded; a failure
    hides the tenant from the governed entry point."""
    with tenant_session(tenant_id, warehouse) as session:
        result = _sync_check(check, session, tenant_id, table, recorded)
    if not result.passed:
        _hide(warehouse, tenant_id)
    return result


def _hide(warehouse: Warehouse, tenant_id: str) -> None:
    """Block everything downstream of this tenant only: the governed entry point
    (platform/tenant_*) reads validated tenants alone. The control table is the platform's, so
    the platform session writes it."""
    with platform_side(warehouse).session() as platform:
        mark_validated(platform, tenant_id, False)


def _sync_check(
    check: str,
    session: TenantSession,
    tenant_id: str,
    table: str,
    recorded: dict[str, object],
    asset_key: dg.AssetKey | None = None,
) -> dg.AssetCheckResult:
    """One check on the tenant's session (`asset_key`: named in the result, for a step that
    evaluates several). Each check measures only its own property: the MD5
    pass over every row is the expensive one, and only checksum_match needs it."""
    source_schema: dict[str, str] = json.loads(str(recorded["source_schema"]))
    source_rows, source_checksum = (
        int(str(recorded["source_rows"])),
        str(recorded["source_checksum"]),
    )
    columns = [SourceColumn(n, "", t, None, None) for n, t in source_schema.items()]
    schema = f"tenant_{tenant_id}"
    metadata: dict[str, Any]
    if check == "schema_match":
        target_schema = warehouse_schema(session, schema, table)
        problem = target_schema != source_schema
        detail = f"schema: source {source_schema}, warehouse {target_schema}"
        metadata = {"source_schema": json.dumps(source_schema),
                    "warehouse_schema": json.dumps(target_schema)}  # fmt: skip
    elif check == "row_count_match":
        target_rows = session.row_count(schema, table)
        problem = target_rows != source_rows
        detail = f"rows: source {source_rows}, warehouse {target_rows}"
        metadata = {"source_rows": source_rows, "warehouse_rows": target_rows}
    elif check == "checksum_match":
        target_rows, target_checksum = warehouse_fingerprint(session, schema, table, columns)
        problem = target_checksum != source_checksum
        detail = f"md5: source {source_checksum}, warehouse {target_checksum}"
        metadata = {"source_rows": source_rows, "warehouse_rows": target_rows,
                    "source_checksum": source_checksum,
                    "warehouse_checksum": target_checksum}  # fmt: skip
    else:
        raise ValueError(f"Unknown tenant sync check '{check}'. Fix: one of {list(CHECKS)}.")
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check if asset_key else None,
        passed=not problem,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{schema}.{table}: " + (detail if problem else "matches source"),
        metadata=metadata,
    )


def build_sync_checks(
    tables: Sequence[str] = SYNCED_TABLES,
    prefix: str = LOCATION,
    partitions_def: dg.PartitionsDefinition | None = TENANTS,
    fixed_tenant: str | None = None,
) -> list[dg.AssetChecksDefinition]:
    """Every table's checks as ONE multi-asset check: one step and one tenant session per run
    instead of nine of each (a small tenant's run was mostly step and store-open overhead).
    Each check keeps its key and stays blocking, and can be selected and run on its own."""
    specs = [
        dg.AssetCheckSpec(
            check,
            asset=sync_asset_key(table, prefix),
            description=description,
            blocking=True,
            partitions_def=partitions_def,
        )
        for table in tables
        for check, description in CHECKS.items()
    ]

    @dg.multi_asset_check(specs=specs, name=f"{prefix}__sync_checks", can_subset=True)
    def sync_checks(
        context: dg.AssetCheckExecutionContext, warehouse: Warehouse
    ) -> Iterator[dg.AssetCheckResult]:
        tenant_id = fixed_tenant or context.partition_key
        partition = None if fixed_tenant else tenant_id
        selected = context.selected_asset_check_keys
        results: list[dg.AssetCheckResult] = []
        failure: Exception | None = None
        recorded: dict[dg.AssetKey, dict[str, object]] = {}
        # A check that raises leaves the others' results, then its error fails the step after
        # them (as one step per check would).
        with tenant_session(tenant_id, warehouse) as session:
            for spec in specs:
                if spec.key not in selected:
                    continue
                table = spec.asset_key.path[-1]
                try:
                    if spec.asset_key not in recorded:
                        recorded[spec.asset_key] = _recorded_source(
                            context.instance, spec.asset_key, partition
                        )
                    results.append(
                        _sync_check(
                            spec.name, session, tenant_id, table, recorded[spec.asset_key],
                            spec.asset_key,
                        )
                    )  # fmt: skip
                except Exception as error:
                    failure = failure or error
        if any(not result.passed for result in results):
            _hide(warehouse, tenant_id)
        yield from results
        if failure is not None:
            raise failure

    return [sync_checks]


def _alert_router() -> AlertRouter:
    """The platform's one alert path (platform_core.monitoring), for this location."""
    return AlertRouter(monitoring_warehouse(current_environment(), LOCATION))


def _alert_registry_problems(context, registry: Registry) -> None:
    for problem in registry.problems:
        context.log.warning(f"tenant registry entry skipped: {problem}")
    _alert_router().notify(
        Alert(
            incident_key=f"{LOCATION}:registry:{registry.source}",
            kind=AlertKind.PLATFORM,
            title=f"tenant registry {registry.source}: {len(registry.problems)} entries skipped",
            recipients=tuple(OWNERS),
            scope=f"domain:{LOCATION}",
            body="; ".join(str(p) for p in registry.problems),
        )
    )


def build_registry_sensor(registry_file: Path) -> dg.SensorDefinition:
    @dg.sensor(
        name="tenant_registry_sensor",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Keeps the `tenants` partitions equal to the registry's active tenants "
        "(onboarding or disabling a tenant needs no deploy); reports skipped entries.",
    )
    def tenant_registry_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        registry = load_registry(registry_file)
        add, delete = partition_changes(
            registry, context.instance.get_dynamic_partitions(TENANTS.name)
        )
        problems = sorted(str(p) for p in registry.problems)
        fingerprint = hashlib.sha1("\n".join(problems).encode()).hexdigest()
        if problems and context.cursor != fingerprint:  # alert once per distinct set
            _alert_registry_problems(context, registry)
        requests = []
        if add:
            requests.append(TENANTS.build_add_request(add))
        if delete:
            requests.append(TENANTS.build_delete_request(delete))
        return dg.SensorResult(dynamic_partitions_requests=requests, cursor=fingerprint)

    return tenant_registry_sensor


def build_cron_sensor(registry_file: Path, job: Any):
    @dg.sensor(
        name="tenant_sync_schedules",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Each tenant's cron and time zone from the registry (a schedule per tenant "
        "that needs no deploy): launches the tenant's partition with its run tags.",
    )
    def tenant_sync_schedules(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        registry = load_registry(registry_file)
        known = set(context.instance.get_dynamic_partitions(TENANTS.name))
        last = json.loads(context.cursor) if context.cursor else {}
        due, cursor = due_tenants(registry, datetime.now(UTC), last)
        runs = [
            dg.RunRequest(
                run_key=f"{tenant.id}:{tick.isoformat()}",
                partition_key=tenant.id,
                # Over budget: the throttle tag, so the run queues behind other throttled runs.
                tags={**run_tags(tenant), **throttle_tags(context.instance, tenant.id)},
            )
            for tenant, tick in due
            if tenant.id in known
        ]
        return dg.SensorResult(run_requests=runs, cursor=json.dumps(cursor))

    return tenant_sync_schedules


def alert_for_failed_run(run: dg.DagsterRun, registry: Registry, error: str | None) -> Alert | None:
    """The owners' alert for a failed tenant run, or None while a retry is still to come."""
    tenant_id = run.tags.get("dagster/partition") or run.tags.get(TENANT_TAG)
    if tenant_id is None:
        return None
    attempt = int(run.tags.get("dagster/retry_number", "0"))
    retries = int(run.tags.get("dagster/max_retries", str(MAX_RETRIES)))
    if attempt < retries:
        return None
    try:
        owners = tuple(registry.get(tenant_id).owners)
    except Exception:
        owners = tuple(OWNERS)
    return Alert(
        incident_key=f"{LOCATION}:run_failure:{tenant_id}",
        kind=AlertKind.RUN_FAILURE,
        title=f"tenant {tenant_id}: sync failed after {attempt + 1} attempt(s)",
        recipients=owners,
        scope=f"tenant:{tenant_id}",
        body=f"Sync of tenant '{tenant_id}' failed after {attempt + 1} attempt(s) "
        f"(run {run.run_id}): {error or 'see the run'}. Other tenants are not affected. Fix: "
        f"once the database is reachable, backfill the failed partition(s): "
        "meshctl tenants backfill-failed",
        details={"run_id": run.run_id, "tenant": tenant_id},
    )


def build_failure_sensor(registry_file: Path, job: Any):
    @dg.run_failure_sensor(
        name="tenant_sync_failure_alerts",
        monitored_jobs=[job],
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=current_environment().automation_interval_seconds,
        description="Alerts a tenant's owners when its sync failed and its retry failed too.",
    )
    def tenant_sync_failure_alerts(context: dg.RunFailureSensorContext) -> None:
        # The root cause is the failed step's own exception (e.g. "its database is
        # unreachable ... Fix: ..."), not the run's "steps failed: [...]" summary.
        causes = [
            first_line(root_cause(event.step_failure_data.error).message, limit=600)
            for event in context.get_step_failure_events()
            if event.step_failure_data and event.step_failure_data.error
        ]
        error = "; ".join(causes) or (
            context.failure_event.message if context.failure_event else None
        )
        alert = alert_for_failed_run(context.dagster_run, load_registry(registry_file), error)
        if alert is not None:
            _alert_router().raise_incident(alert)  # once per open incident

    return tenant_sync_failure_alerts


def tenant_sync_definitions(
    registry_file: Path, tables: Sequence[str] = SYNCED_TABLES
) -> dg.Definitions:
    """The shared tenant_sync location's assets, checks, job and sensors (the location's root
    adds the platform defaults: resources, executor, automation and monitoring)."""
    assets = build_sync_assets(registry_file, tables)
    job = dg.define_asset_job(
        "tenant_sync_job",
        selection=dg.AssetSelection.assets(assets),
        partitions_def=TENANTS,
        description="Sync one tenant's database (one partition per tenant).",
    )
    # Production only: tenant roles and grants (locally each tenant is its own DuckDB file;
    # a branch's identity cannot grant anything).
    env = current_environment()
    grants = [] if env.is_local or env.is_branch else [build_tenant_grants_job(registry_file)]
    return dg.Definitions(
        assets=[assets],
        asset_checks=build_sync_checks(tables),
        jobs=[job, *grants],
        sensors=[
            build_registry_sensor(registry_file),
            build_cron_sensor(registry_file, job),
            build_failure_sensor(registry_file, job),
        ],
    )


def dedicated_tenant_definitions(
    tenant_id: str,
    registry_file: Path,
    tables: Sequence[str] = SYNCED_TABLES,
    custom_assets: Sequence[Any] = (),
) -> dg.Definitions:
    """A code location for ONE tenant that needs custom logic (the seed's "location per tenant").

    Same sync, checks and alerts as the shared location, unpartitioned, keyed
    `tenant_<id>/<table>`, on the tenant's own cron and time zone; `custom_assets` add the
    tenant's own logic downstream. Its `warehouse` resource is a `TenantWarehouse` (set by
    `platform_core.definitions.build_dedicated_tenant_definitions`): every session it opens is
    `tenant_session(tenant_id)`. The registry entry must say `isolation: dedicated_location`
    (the shared location then leaves the tenant out).
    """
    tenant = load_registry(registry_file).get(tenant_id)
    prefix = tenant.schema

    @dg.multi_asset(
        name=f"sync_{prefix}",
        specs=[
            dg.AssetSpec(
                sync_asset_key(table, prefix),
                owners=list(tenant.owners),
                group_name=prefix,
                kinds={"postgres", current_environment().warehouse_kind},
                tags={"tenant": tenant.id},
                description=f"Tenant {tenant.id}'s `{table}` table in schema {tenant.schema}.",
            )
            for table in tables
        ],
        can_subset=False,
    )
    def sync_dedicated(context: dg.AssetExecutionContext, warehouse: Warehouse):
        current = load_registry(registry_file).get(tenant_id)
        yield from _materialize(context, platform_side(warehouse), current, tables, prefix)

    job = dg.define_asset_job(
        f"{prefix}_sync_job",
        selection=dg.AssetSelection.assets(sync_dedicated),
        run_tags=run_tags(tenant),
    )
    schedule = dg.ScheduleDefinition(
        name=f"{prefix}_sync_schedule",
        job=job,
        cron_schedule=tenant.cron,
        execution_timezone=tenant.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return dg.Definitions(
        assets=[sync_dedicated, *custom_assets],
        asset_checks=build_sync_checks(tables, prefix, None, fixed_tenant=tenant.id),
        jobs=[job],
        schedules=[schedule],
        sensors=[build_failure_sensor(registry_file, job)],
    )
