"""The sales domain's code location: orders, customers and revenue products."""

from pathlib import Path

from mesh_sales import products
from platform_core import build_domain_definitions

defs = build_domain_definitions(
    Path(__file__).with_name("products.yaml"),
    [products.orders, products.customers, products.daily_revenue],
)
