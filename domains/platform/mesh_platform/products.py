"""Ingestion of the tenants' application extracts into the warehouse (Arrow, no row loops)."""

import pyarrow as pa
from platform_core.sample_data import read_landing

from platform_core import ProductContext, python_product


@python_product("tenants")
def tenants(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "tenants")


@python_product("tenant_customers")
def tenant_customers(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "customers")


@python_product("tenant_products")
def tenant_products(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "products")


@python_product("tenant_orders")
def tenant_orders(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "orders")
