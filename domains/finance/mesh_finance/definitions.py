"""The finance domain's code location: billing (dbt group `finance`) and a revenue forecast."""

from pathlib import Path

from mesh_finance import products
from platform_core import build_domain_definitions

defs = build_domain_definitions(
    Path(__file__).with_name("products.yaml"), [products.revenue_forecast], dbt_group="finance"
)
