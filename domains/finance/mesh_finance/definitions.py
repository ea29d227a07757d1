"""The finance domain's code location: per-tenant billing."""

from pathlib import Path

from mesh_finance import products
from platform_core import build_domain_definitions

defs = build_domain_definitions(
    Path(__file__).with_name("products.yaml"), [products.tenant_billing]
)
