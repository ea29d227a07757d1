"""One location as the monitoring rules see it: its products' owners, SLAs and checks, its
tenants, where alerts go, and the sensor cursor the rules share.

Each rule family is a module of functions over a `LocationMonitor`: run_failures, durations,
quality, freshness and budgets; `sensors` wires them into a location's two sensors.
"""

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg

from platform_core.environment import Environment
from platform_core.monitoring.cost import CostRates
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
    from platform_core.products.checks import product_check_names

    result = {}
    for product in products.values():
        keys = [dg.AssetCheckKey(product.key, name) for name in product_check_names(product)]
        result[product.key] = monitored_product(product, keys)
    return result


def run_location(run: dg.DagsterRun) -> str | None:
    origin = run.remote_job_origin
    return origin.location_name if origin is not None else None


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
    """Everything the rules need to know about one location."""

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
            tags[dg.MAX_RUNTIME_SECONDS_TAG] = str(max(limits))
        if self.tenant:
            tags[TENANT_TAG] = self.tenant
        return tags
