"""What a run cost, per run and summed per domain (location) and tenant per month.

Per finished run: compute seconds (run wall time), rows processed (the `dagster/row_count` of
its materializations) and, on Snowflake, credits. Credits are estimated from run time and the
warehouse's credit rate (every statement carries QUERY_TAG `mesh:<location>`, so the account's
QUERY_ATTRIBUTION_HISTORY can reconcile them per location). The figures go on the run as tags
(visible in the UI) and into `monitoring.run_costs`, which budgets and the health report read.

Rates (environment variables, plain numbers): MESH_SNOWFLAKE_CREDITS_PER_HOUR (1, X-Small),
MESH_USD_PER_CREDIT (3), MESH_LOCAL_USD_PER_COMPUTE_HOUR (0.10: what a local run would cost).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from platform_core.environment import Environment
from platform_core.monitoring.incidents import SCHEMA
from platform_core.monitoring.tenants import TENANT_TAG
from platform_core.products.checks import ROW_COUNT
from platform_core.warehouse.base import WarehouseSession

RUN_COSTS = f"{SCHEMA}.run_costs"
BUDGET_WARNING_RATIO = 0.8


@dataclass(frozen=True)
class CostRates:
    snowflake_credits_per_hour: float = 1.0
    usd_per_credit: float = 3.0
    local_usd_per_compute_hour: float = 0.10

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CostRates:
        def number(name: str, default: float) -> float:
            raw = environ.get(name)
            try:
                return float(raw) if raw else default
            except ValueError:
                from platform_core.errors import ConfigurationError

                raise ConfigurationError(f"{name}={raw!r} is not a number. Fix: e.g. 0.5") from None

        return cls(
            number("MESH_SNOWFLAKE_CREDITS_PER_HOUR", cls.snowflake_credits_per_hour),
            number("MESH_USD_PER_CREDIT", cls.usd_per_credit),
            number("MESH_LOCAL_USD_PER_COMPUTE_HOUR", cls.local_usd_per_compute_hour),
        )


@dataclass(frozen=True)
class RunCost:
    run_id: str
    location: str
    tenant: str | None
    month: str  # YYYY-MM of the run's end
    compute_seconds: float
    rows_processed: int
    credits: float
    cost_usd: float

    def tags(self) -> dict[str, str]:
        return {
            "mesh/compute_seconds": f"{self.compute_seconds:.1f}",
            "mesh/rows_processed": str(self.rows_processed),
            "mesh/credits": f"{self.credits:.6f}",
            "mesh/cost_usd": f"{self.cost_usd:.6f}",
        }


def measure_run(
    instance: dg.DagsterInstance, record: dg.RunRecord, location: str, env: Environment,
    rates: CostRates,
) -> RunCost:  # fmt: skip
    run = record.dagster_run
    start = record.start_time or record.create_timestamp.timestamp()
    end = record.end_time or time.time()
    seconds = max(0.0, end - start)
    rows = 0
    for event in instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        materialization = event.asset_materialization
        value = materialization.metadata.get(ROW_COUNT) if materialization else None
        rows += int(value.value) if value is not None else 0
    if env.is_local:
        credits = 0.0
        cost = seconds / 3600 * rates.local_usd_per_compute_hour
    else:
        credits = seconds / 3600 * rates.snowflake_credits_per_hour
        cost = credits * rates.usd_per_credit
    month = datetime.fromtimestamp(end, UTC).strftime("%Y-%m")
    return RunCost(
        run.run_id, location, run.tags.get(TENANT_TAG), month, seconds, rows, credits, cost
    )


def ensure_cost_table(session: WarehouseSession) -> None:
    session.ensure_schema(SCHEMA)
    session.execute(
        f"create table if not exists {RUN_COSTS} (run_id varchar, location varchar, "
        "tenant varchar, month varchar, compute_seconds double, rows_processed bigint, "
        "credits double, cost_usd double)"
    )


def record_cost(session: WarehouseSession, cost: RunCost) -> bool:
    """Insert the run's cost once; False if it was already recorded."""
    ensure_cost_table(session)
    q = session.literal
    if session.fetch(f"select 1 from {RUN_COSTS} where run_id = {q(cost.run_id)}"):
        return False
    session.execute(
        f"insert into {RUN_COSTS} values ({q(cost.run_id)}, {q(cost.location)}, "
        f"{q(cost.tenant)}, {q(cost.month)}, {q(cost.compute_seconds)}, "
        f"{q(cost.rows_processed)}, {q(cost.credits)}, {q(cost.cost_usd)})"
    )
    return True


def current_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def monthly_spend(session: WarehouseSession, column: str, month: str) -> dict[str, float]:
    """Cost in USD this month per `location` or per `tenant`."""
    if column not in {"location", "tenant"}:
        raise ValueError(f"spend is summed per location or tenant, not {column!r}")
    ensure_cost_table(session)
    rows = session.fetch(
        f"select {column}, sum(cost_usd), sum(compute_seconds), sum(rows_processed), "
        f"sum(credits), count(*) from {RUN_COSTS} where month = {session.literal(month)} "
        f"and {column} is not null group by {column}"
    )
    return {str(row[0]): float(row[1] or 0) for row in rows}


@dataclass(frozen=True)
class BudgetStatus:
    tenant: str
    spent_usd: float
    budget_usd: float

    @property
    def ratio(self) -> float:
        return self.spent_usd / self.budget_usd if self.budget_usd else 0.0

    @property
    def over(self) -> bool:
        return self.budget_usd > 0 and self.spent_usd > self.budget_usd

    @property
    def warning(self) -> bool:
        return not self.over and self.budget_usd > 0 and self.ratio >= BUDGET_WARNING_RATIO

    def describe(self) -> str:
        return f"${self.spent_usd:.2f} of ${self.budget_usd:.2f} ({self.ratio:.0%})"
