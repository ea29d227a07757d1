"""A small two-location mesh whose products misbehave on request, for the monitoring tests.

`shop` products read their behaviour from `$MESH_HOME/knobs.json` ({"<product>": {"rows": n,
"fail": true, "sleep": s}}); a `requests` sensor launches runs of the `shop_requests` job listed
in `$MESH_HOME/requests.jsonl`, so every run goes through the real queue, retries and run
monitoring of the daemon. `insight/summary` (another location) depends on `shop/orders`.
"""

import json
from pathlib import Path

from platform_core.declaration_yaml import data_products_document

SHOP_PRODUCTS = """
domain: shop
products:
  - name: orders
    description: One row per order (size set by the test).
    owners: [team:shop]
    visibility: public
    automation: manual
    columns:
      - {name: id, type: integer, not_null: true}
      - {name: amount, type: float, max_null_fraction: 0.5}
  - name: payments
    description: One row per payment; fails when the test says so.
    owners: [team:payments, lead@shop.example]
    visibility: internal
    automation: manual
    columns:
      - {name: id, type: integer, not_null: true}
      - {name: amount, type: float}
  - name: slow
    description: A product that takes as long as the test says.
    owners: [team:shop]
    visibility: internal
    automation: manual
    sla: {expected_runtime: 3s, max_runtime: 15s}
    columns:
      - {name: id, type: integer, not_null: true}
      - {name: amount, type: float}
  - name: rates
    description: Exchange rates (upstream of prices).
    owners: [team:shop]
    visibility: internal
    automation: manual
    columns:
      - {name: id, type: integer, not_null: true}
      - {name: amount, type: float}
  - name: prices
    description: Prices; must be at most a minute old.
    owners: [team:pricing]
    visibility: internal
    automation: manual
    sla: {fail_after: 1m, expected_runtime: 5s, max_runtime: 15s}
    inputs: [shop/rates]
    columns:
      - {name: id, type: integer, not_null: true}
      - {name: amount, type: float}
  - name: usage
    description: Per-tenant usage; runs are tagged with the tenant.
    owners: [team:shop]
    visibility: internal
    automation: manual
    columns:
      - {name: id, type: integer, not_null: true}
      - {name: amount, type: float}
"""

SHOP_DEFINITIONS = """
import json
import os
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from platform_core import build_domain_definitions, python_product
from platform_core.monitoring import StaticTenantDirectory, TenantProfile

HOME = Path(os.environ["MESH_HOME"])


def table(name):
    knobs = json.loads((HOME / "knobs.json").read_text()).get(name, {})
    if knobs.get("fail"):
        raise RuntimeError(f"{name} source unreachable (injected failure)")
    time.sleep(knobs.get("sleep", 0))
    rows = knobs.get("rows", 100)
    return pd.DataFrame({"id": range(rows), "amount": [1.5] * rows})


orders = python_product("orders")(lambda p: table("orders"))
payments = python_product("payments")(lambda p: table("payments"))
slow = python_product("slow")(lambda p: table("slow"))
rates = python_product("rates")(lambda p: table("rates"))
prices = python_product("prices")(lambda p: table("prices"))
usage = python_product("usage")(lambda p: table("usage"))

TENANTS = StaticTenantDirectory(
    [
        TenantProfile("acme", ("ops@acme.example",), monthly_budget_usd=0.000001,
                      max_concurrent_runs=4),
        TenantProfile("globex", ("data@globex.example",), monthly_budget_usd=1000.0,
                      max_concurrent_runs=4),
    ]
)


requests_job = dg.define_asset_job("shop_requests", selection=dg.AssetSelection.all())


@dg.sensor(job=requests_job, minimum_interval_seconds=1,
           default_status=dg.DefaultSensorStatus.RUNNING)
def requests(context):
    path = HOME / "requests.jsonl"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        request = json.loads(line)
        yield dg.RunRequest(
            run_key=request["id"],
            asset_selection=[dg.AssetKey.from_user_string(k) for k in request["assets"]],
            tags=request.get("tags", {}),
        )


defs = build_domain_definitions(
    Path(__file__).parent / "defs" / "products" / "defs.yaml",
    [orders, payments, slow, rates, prices, usage],
    sensors=[requests],
    jobs=[requests_job],
    tenants=TENANTS,
)
"""

INSIGHT_PRODUCTS = """
domain: insight
products:
  - name: summary
    description: Order count, built on shop/orders whenever it updates.
    owners: [team:insight]
    visibility: public
    inputs: [shop/orders]
    columns:
      - {name: orders, type: integer, not_null: true}
"""

INSIGHT_DEFINITIONS = """
from pathlib import Path

from platform_core import build_domain_definitions, sql_product


@sql_product("summary")
def summary(p):
    return f"select count(*) as orders from {p.ref('shop/orders')}"


defs = build_domain_definitions(Path(__file__).parent / "defs" / "products" / "defs.yaml", [summary])
"""


def write_monitoring_mesh(root: Path) -> Path:
    """Write the mesh under `root`; returns its workspace.yaml."""
    domains = {
        "shop": (SHOP_PRODUCTS, SHOP_DEFINITIONS),
        "insight": (INSIGHT_PRODUCTS, INSIGHT_DEFINITIONS),
    }
    projects = "".join(f'\n[[workspace.projects]]\npath = "domains/{d}"\n' for d in domains)
    (root / "dg.toml").write_text(f'directory_type = "workspace"\n\n[workspace]\n{projects}')
    load_from = []
    for domain, (products, definitions) in domains.items():
        project = root / "domains" / domain
        package = project / f"fixture_{domain}"
        package.mkdir(parents=True)
        (project / "pyproject.toml").write_text(
            f'[tool.dg.project]\nroot_module = "fixture_{domain}"\n'
            f'code_location_name = "{domain}"\n'
        )
        (package / "__init__.py").write_text("")
        (package / "defs" / "products").mkdir(parents=True)
        (package / "defs" / "products" / "defs.yaml").write_text(data_products_document(products))
        (package / "definitions.py").write_text(definitions)
        load_from.append(
            {
                "python_module": {
                    "module_name": f"fixture_{domain}.definitions",
                    "location_name": domain,
                    "working_directory": str(project),
                }
            }
        )
    workspace = root / "workspace.yaml"
    workspace.write_text(json.dumps({"load_from": load_from}))
    return workspace
