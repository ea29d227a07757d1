"""The platform team's code location: shared ingestion of tenant application data."""

from pathlib import Path

from mesh_platform import products
from platform_core import build_domain_definitions

defs = build_domain_definitions(
    Path(__file__).with_name("products.yaml"),
    [products.tenants, products.tenant_customers, products.tenant_products, products.tenant_orders],
)
