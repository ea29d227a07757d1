"""Deterministic sample sources for the mesh: the local run, the tests and the benchmarks share it.

The story: a SaaS commerce platform hosts merchant tenants. Each tenant's application database
holds customers, products and orders; the platform's ad service runs campaigns for tenants
(campaigns, daily ad spend) and a click-stream records ad clicks. The same seed and scale always
give the same rows, so tests can assert figures.

Extracts land as Parquet under `<landing>/<source>/<table>.parquet`, the way files would land in
object storage; ingestion products copy them into the warehouse.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from platform_core.landing import landing_path

EPOCH = datetime(2026, 1, 1)
DAYS = 90
PLANS = np.array(["starter", "growth", "enterprise"])
COUNTRIES = np.array(["US", "DE", "FR", "GB", "TH", "BR", "JP", "IN"])
CATEGORIES = np.array(["apparel", "home", "beauty", "electronics", "grocery", "toys"])
CHANNELS = np.array(["search", "social", "email", "display"])
STATUSES = np.array(["completed", "refunded", "cancelled"])


@dataclass(frozen=True)
class Scale:
    """How much data: `tenants` x `orders_per_tenant` drives every other table's size."""

    tenants: int = 5
    orders_per_tenant: int = 2_000
    seed: int = 42

    @property
    def customers_per_tenant(self) -> int:
        return max(10, self.orders_per_tenant // 4)

    @property
    def products_per_tenant(self) -> int:
        return 50

    @property
    def campaigns_per_tenant(self) -> int:
        return 4


def tenant_ids(count: int) -> list[str]:
    return [f"t{i:03d}" for i in range(1, count + 1)]


def _timestamps(rng: np.random.Generator, n: int) -> np.ndarray:
    seconds = rng.integers(0, DAYS * 86_400, size=n)
    return np.datetime64(EPOCH, "s") + seconds.astype("timedelta64[s]")


def _usd(cents: np.ndarray) -> pa.Array:
    """Whole cents as DECIMAL(10, 2), so sums are exact in every engine."""
    return pa.array(cents / 100).cast(pa.decimal128(10, 2))


def generate(scale: Scale) -> dict[str, pa.Table]:
    """All source tables for `scale`, keyed by table name."""
    rng = np.random.default_rng(scale.seed)
    ids = tenant_ids(scale.tenants)
    n_t, per_c, per_p, per_o = (
        scale.tenants,
        scale.customers_per_tenant,
        scale.products_per_tenant,
        scale.orders_per_tenant,
    )

    tenants = pa.table(
        {
            "tenant_id": ids,
            "name": [f"Merchant {i[1:]}" for i in ids],
            "plan": PLANS[rng.integers(0, len(PLANS), n_t)],
            "country": COUNTRIES[rng.integers(0, len(COUNTRIES), n_t)],
            "signed_up_on": [date(2025, 1 + i % 12, 1 + i % 28) for i in range(n_t)],
        }
    )

    tenant_of_customer = np.repeat(np.arange(n_t), per_c)
    customer_ids = np.arange(1, n_t * per_c + 1)
    customers = pa.table(
        {
            "customer_id": customer_ids,
            "tenant_id": np.array(ids)[tenant_of_customer],
            "email": [f"customer{c}@example.com" for c in customer_ids],
            "country": COUNTRIES[rng.integers(0, len(COUNTRIES), n_t * per_c)],
            "created_at": _timestamps(rng, n_t * per_c),
        }
    )

    tenant_of_product = np.repeat(np.arange(n_t), per_p)
    product_ids = np.arange(1, n_t * per_p + 1)
    products = pa.table(
        {
            "product_id": product_ids,
            "tenant_id": np.array(ids)[tenant_of_product],
            "name": [f"Product {p}" for p in product_ids],
            "category": CATEGORIES[rng.integers(0, len(CATEGORIES), n_t * per_p)],
            "unit_price": _usd(rng.integers(199, 19_999, n_t * per_p)),
        }
    )

    n_orders = n_t * per_o
    tenant_of_order = np.repeat(np.arange(n_t), per_o)
    orders = pa.table(
        {
            "order_id": np.arange(1, n_orders + 1),
            "tenant_id": np.array(ids)[tenant_of_order],
            # A tenant's orders only reference that tenant's customers and products.
            "customer_id": tenant_of_order * per_c + rng.integers(1, per_c + 1, n_orders),
            "product_id": tenant_of_order * per_p + rng.integers(1, per_p + 1, n_orders),
            "quantity": rng.integers(1, 5, n_orders),
            "status": STATUSES[rng.choice(3, n_orders, p=[0.9, 0.06, 0.04])],
            "ordered_at": _timestamps(rng, n_orders),
        }
    )

    n_campaigns = n_t * scale.campaigns_per_tenant
    tenant_of_campaign = np.repeat(np.arange(n_t), scale.campaigns_per_tenant)
    campaign_ids = np.arange(1, n_campaigns + 1)
    channels = CHANNELS[np.tile(np.arange(scale.campaigns_per_tenant), n_t) % len(CHANNELS)]
    campaigns = pa.table(
        {
            "campaign_id": campaign_ids,
            "tenant_id": np.array(ids)[tenant_of_campaign],
            "name": [
                f"{ch.title()} campaign {c}" for c, ch in zip(campaign_ids, channels, strict=True)
            ],
            "channel": channels,
            "started_on": [EPOCH.date()] * n_campaigns,
        }
    )

    spend_campaign = np.repeat(np.arange(n_campaigns), DAYS)
    spend_days = np.tile(np.arange(DAYS), n_campaigns)
    ad_spend = pa.table(
        {
            "campaign_id": campaign_ids[spend_campaign],
            "tenant_id": np.array(ids)[tenant_of_campaign[spend_campaign]],
            "spend_date": np.datetime64(EPOCH.date(), "D") + spend_days.astype("timedelta64[D]"),
            "spend": _usd(rng.integers(500, 50_000, len(spend_days))),
            "impressions": rng.integers(100, 10_000, len(spend_days)),
        }
    )

    n_clicks = int(n_orders * 1.5)
    tenant_of_click = rng.integers(0, n_t, n_clicks)
    clicks = pa.table(
        {
            "click_id": np.arange(1, n_clicks + 1),
            "tenant_id": np.array(ids)[tenant_of_click],
            "campaign_id": tenant_of_click * scale.campaigns_per_tenant
            + rng.integers(1, scale.campaigns_per_tenant + 1, n_clicks),
            "customer_id": tenant_of_click * per_c + rng.integers(1, per_c + 1, n_clicks),
            "clicked_at": _timestamps(rng, n_clicks),
        }
    )
    return {
        "tenants": tenants,
        "customers": customers,
        "products": products,
        "orders": orders,
        "campaigns": campaigns,
        "ad_spend": ad_spend,
        "clicks": clicks,
    }


def write_landing(landing_dir: Path, scale: Scale) -> bool:
    """Write the extracts unless the same scale is already there. Returns True if written."""
    marker = landing_dir / "scale.json"
    if marker.is_file() and json.loads(marker.read_text()) == asdict(scale):
        return False
    for table, data in generate(scale).items():
        path = landing_path(landing_dir, table)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, path)
    marker.write_text(json.dumps(asdict(scale)))
    return True
