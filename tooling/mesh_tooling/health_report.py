"""The mesh health report: per domain and per tenant, what people need at a glance.

Products, owners, last update, freshness, failing checks, open incidents and cost against
budget, from the Dagster instance, the product catalog and the `monitoring` tables. Printed
by `meshctl health` and written as HTML pages (an overview plus one page per domain and
tenant) that need no server: open the file.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from platform_core.monitoring.cost import BudgetStatus, current_month, monthly_spend
from platform_core.monitoring.incidents import Incident, IncidentStore
from platform_core.monitoring.quality import check_failed, latest_check_records
from platform_core.monitoring.tenants import TenantDirectory
from platform_core.products.catalog import Catalog
from platform_core.products.checks import product_checks
from platform_core.products.declaration import ProductDeclaration, parse_duration
from platform_core.warehouse.base import Warehouse


@dataclass(frozen=True)
class ProductHealth:
    ref: str
    owners: tuple[str, ...]
    visibility: str
    last_update: float | None
    freshness: str  # fresh | late (past warn_after) | stale | never
    failing_checks: tuple[str, ...]


@dataclass(frozen=True)
class DomainHealth:
    name: str
    owners: tuple[str, ...]
    products: list[ProductHealth]
    incidents: list[Incident]
    cost_usd: float

    @property
    def status(self) -> str:
        if self.incidents or any(p.failing_checks or p.freshness == "stale" for p in self.products):
            return "attention"
        return "healthy"


@dataclass(frozen=True)
class TenantHealth:
    id: str
    contacts: tuple[str, ...]
    budget: BudgetStatus | None
    pool_limit: int | None
    incidents: list[Incident]

    @property
    def status(self) -> str:
        if self.budget and self.budget.over:
            return "over budget"
        if self.incidents or (self.budget and self.budget.warning):
            return "attention"
        return "healthy"


@dataclass
class MeshHealth:
    generated_at: float
    month: str
    domains: list[DomainHealth] = field(default_factory=list)
    tenants: list[TenantHealth] = field(default_factory=list)


def _freshness(product: ProductDeclaration, last: float | None, now: float) -> str:
    if last is None:
        return "never"
    age = now - last
    if age > parse_duration(product.sla.fail_after).total_seconds():
        return "stale"
    if product.sla.warn_after and age > parse_duration(product.sla.warn_after).total_seconds():
        return "late"
    return "fresh"


def _failing_checks(instance: dg.DagsterInstance, product: ProductDeclaration) -> tuple[str, ...]:
    keys = [k for c in product_checks(product) for k in c.check_keys]
    latest = latest_check_records(instance, keys)
    return tuple(sorted(key.name for key, record in latest.items() if check_failed(record)))


def collect_health(
    instance: dg.DagsterInstance,
    catalog: Catalog,
    warehouse: Warehouse,
    tenants: TenantDirectory,
    now: float | None = None,
) -> MeshHealth:
    now = now or time.time()
    month = current_month()
    with warehouse.session() as session:
        incidents = IncidentStore(session).incidents("open")
        by_location = monthly_spend(session, "location", month)
        by_tenant = monthly_spend(session, "tenant", month)
    health = MeshHealth(now, month)
    for domain in sorted({p.domain for p in catalog.products.values()}):
        products = []
        for product in sorted(
            (p for p in catalog.products.values() if p.domain == domain), key=lambda p: p.name
        ):
            event = instance.get_latest_materialization_event(product.key)
            last = event.timestamp if event else None
            products.append(
                ProductHealth(
                    product.ref,
                    tuple(product.owners),
                    product.visibility.value,
                    last,
                    _freshness(product, last, now),
                    _failing_checks(instance, product),
                )
            )
        health.domains.append(
            DomainHealth(
                domain,
                tuple(catalog.owners_of(domain)),
                products,
                [i for i in incidents if i.scope == f"domain:{domain}"],
                by_location.get(domain, 0.0),
            )
        )
    for profile in sorted(tenants.all(), key=lambda p: p.id):
        budget = (
            BudgetStatus(profile.id, by_tenant.get(profile.id, 0.0), profile.monthly_budget_usd)
            if profile.monthly_budget_usd
            else None
        )
        storage = instance.event_log_storage
        pool = (
            storage.get_concurrency_info(profile.pool).slot_count
            if profile.pool in storage.get_concurrency_keys()
            else None
        )
        health.tenants.append(
            TenantHealth(
                profile.id,
                profile.contacts,
                budget,
                pool,
                [i for i in incidents if i.scope == f"tenant:{profile.id}"],
            )
        )
    return health


def _when(timestamp: float | None, now: float) -> str:
    if timestamp is None:
        return "never"
    age = now - timestamp
    for unit, seconds in (("d", 86400), ("h", 3600), ("m", 60)):
        if age >= seconds:
            return f"{age / seconds:.0f}{unit} ago"
    return f"{age:.0f}s ago"


def _pool(limit: int | None) -> str:
    return "no concurrency limit set" if limit is None else f"concurrency limit {limit}"


def render_text(health: MeshHealth) -> str:
    now = health.generated_at
    lines = [f"Mesh health, {datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M} UTC"]
    for domain in health.domains:
        lines.append("")
        lines.append(
            f"domain {domain.name}  [{domain.status}]  owners {', '.join(domain.owners)}  "
            f"cost {health.month} ${domain.cost_usd:.2f}"
        )
        for p in domain.products:
            checks = f"  FAILING: {', '.join(p.failing_checks)}" if p.failing_checks else ""
            lines.append(
                f"  {p.ref:<32} {p.freshness:<6} updated {_when(p.last_update, now):<10} "
                f"{', '.join(p.owners)}{checks}"
            )
        lines.extend(f"  ! {i.kind}: {i.title}" for i in domain.incidents)
    for tenant in health.tenants:
        budget = tenant.budget.describe() if tenant.budget else "no budget"
        lines.append("")
        lines.append(
            f"tenant {tenant.id}  [{tenant.status}]  contacts {', '.join(tenant.contacts)}  "
            f"{budget}  {_pool(tenant.pool_limit)}"
        )
        lines.extend(f"  ! {i.kind}: {i.title}" for i in tenant.incidents)
    return "\n".join(lines)


_CSS = """
:root { --ok:#1a7f4b; --warn:#b26b00; --bad:#c0262d; --muted:#6b7280; --line:#e5e7eb; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:#111827; background:#f5f6f8; }
header { background:#111827; color:#fff; padding:20px 32px; }
header h1 { margin:0; font-size:22px; font-weight:600; }
header p { margin:4px 0 0; color:#cbd5e1; font-size:13px; }
main { padding:24px 32px; max-width:1200px; }
nav.summary { display:flex; flex-wrap:wrap; gap:10px; margin-bottom:22px; }
nav.summary a { text-decoration:none; color:inherit; background:#fff; border:1px solid var(--line);
                border-radius:10px; padding:10px 14px; min-width:150px; }
nav.summary a b { display:block; font-size:14px; }
section { background:#fff; border:1px solid var(--line); border-radius:12px; padding:18px 22px;
          margin-bottom:20px; box-shadow:0 1px 2px rgba(0,0,0,.04); }
section h2 { margin:0 0 4px; font-size:18px; display:flex; gap:10px; align-items:center; }
.meta { color:var(--muted); font-size:13px; margin-bottom:12px; }
table { width:100%; border-collapse:collapse; font-size:14px; }
th { text-align:left; color:var(--muted); font-weight:500; font-size:12px; text-transform:uppercase;
     letter-spacing:.04em; border-bottom:1px solid var(--line); padding:6px 8px; }
td { border-bottom:1px solid var(--line); padding:8px; vertical-align:top; }
tr:last-child td { border-bottom:none; }
.pill { display:inline-block; border-radius:999px; padding:1px 10px; font-size:12px; font-weight:600; }
.fresh,.healthy { background:#dcfce7; color:var(--ok); }
.late,.attention { background:#fef3c7; color:var(--warn); }
.stale,.over-budget,.failing { background:#fee2e2; color:var(--bad); }
.never { background:#f3f4f6; color:var(--muted); }
.incidents { margin:12px 0 0; padding:0; list-style:none; }
.incidents li { border-left:3px solid var(--bad); background:#fff7f7; padding:6px 10px; margin-top:6px;
                border-radius:4px; font-size:14px; }
.bar { height:10px; background:#eef0f3; border-radius:6px; overflow:hidden; width:260px; }
.bar span { display:block; height:100%; background:var(--ok); }
.bar span.warning { background:var(--warn); } .bar span.over { background:var(--bad); }
code { font-size:13px; color:#374151; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _pill(status: str) -> str:
    return f'<span class="pill {status.replace(" ", "-")}">{_e(status)}</span>'


def _incident_list(incidents: Sequence[Incident], now: float) -> str:
    if not incidents:
        return ""
    items = "".join(
        f"<li><b>{_e(i.kind.replace('_', ' '))}</b> · {_e(i.title)} "
        f'<span class="meta">opened {_when(i.opened_at, now)} · to {_e(", ".join(i.recipients))}'
        "</span></li>"
        for i in incidents
    )
    return f'<ul class="incidents">{items}</ul>'


def _domain_section(domain: DomainHealth, health: MeshHealth) -> str:
    now = health.generated_at
    rows = "".join(
        f"<tr><td><code>{_e(p.ref)}</code></td><td>{_e(', '.join(p.owners))}</td>"
        f"<td>{_e(p.visibility)}</td><td>{_when(p.last_update, now)}</td>"
        f"<td>{_pill(p.freshness)}</td><td>"
        + (
            " ".join(f'<span class="pill failing">{_e(c)}</span>' for c in p.failing_checks)
            or '<span class="meta">all passing</span>'
        )
        + "</td></tr>"
        for p in domain.products
    )
    return (
        f'<section id="domain-{_e(domain.name)}"><h2>Domain {_e(domain.name)} '
        f"{_pill(domain.status)}</h2>"
        f'<div class="meta">Owners {_e(", ".join(domain.owners))} · cost in {health.month}: '
        f"${domain.cost_usd:.2f} · {len(domain.incidents)} open incidents</div>"
        "<table><thead><tr><th>Product</th><th>Owners</th><th>Visibility</th>"
        "<th>Last update</th><th>Freshness</th><th>Failing checks</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{_incident_list(domain.incidents, now)}</section>"
    )


def _tenant_section(tenant: TenantHealth, health: MeshHealth) -> str:
    budget = tenant.budget
    if budget is not None:
        level = "over" if budget.over else "warning" if budget.warning else ""
        width = min(100.0, budget.ratio * 100)
        bar = (
            f'<div class="bar"><span class="{level}" style="width:{width:.0f}%"></span></div>'
            f'<div class="meta">{_e(budget.describe())}</div>'
        )
    else:
        bar = '<span class="meta">no budget set</span>'
    return (
        f'<section id="tenant-{_e(tenant.id)}"><h2>Tenant {_e(tenant.id)} '
        f"{_pill(tenant.status)}</h2>"
        f'<div class="meta">Contacts {_e(", ".join(tenant.contacts))} · '
        f"{_e(_pool(tenant.pool_limit))} · {len(tenant.incidents)} open incidents</div>"
        f"<table><thead><tr><th>Cost in {health.month} against budget</th></tr></thead>"
        f"<tbody><tr><td>{bar}</td></tr></tbody></table>"
        f"{_incident_list(tenant.incidents, health.generated_at)}</section>"
    )


def _page(title: str, body: str, health: MeshHealth) -> str:
    when = datetime.fromtimestamp(health.generated_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body><header><h1>{_e(title)}</h1>"
        f"<p>Generated {when} · <a href='index.html' style='color:#93c5fd'>overview</a></p>"
        f"</header><main>{body}</main></body></html>"
    )


def write_html(health: MeshHealth, folder: Path) -> list[Path]:
    """index.html (everything, with a summary bar) and one page per domain and tenant."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = "".join(
        f'<a href="domain-{_e(d.name)}.html"><b>{_e(d.name)}</b>{_pill(d.status)}</a>'
        for d in health.domains
    ) + "".join(
        f'<a href="tenant-{_e(t.id)}.html"><b>tenant {_e(t.id)}</b>{_pill(t.status)}</a>'
        for t in health.tenants
    )
    sections = [_domain_section(d, health) for d in health.domains]
    sections += [_tenant_section(t, health) for t in health.tenants]
    written = [folder / "index.html"]
    written[0].write_text(
        _page("Mesh health", f'<nav class="summary">{summary}</nav>{"".join(sections)}', health)
    )
    for domain in health.domains:
        path = folder / f"domain-{domain.name}.html"
        path.write_text(_page(f"Domain {domain.name}", _domain_section(domain, health), health))
        written.append(path)
    for tenant in health.tenants:
        path = folder / f"tenant-{tenant.id}.html"
        path.write_text(_page(f"Tenant {tenant.id}", _tenant_section(tenant, health), health))
        written.append(path)
    return written
