"""The platform's data products: the one governed entry point to tenant data.

`tenants` comes from the platform's own billing extract; customers, products and orders come
from every tenant's database, synced and validated by the tenant_sync location into one schema
per tenant and unioned here with a `tenant_id` column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from platform_core.landing import read_landing
from platform_core.tenancy.entry_point import all_tenants_sql

from platform_core import ProductContext, python_product, sql_product

if TYPE_CHECKING:  # pyarrow is the run's: the location's load does not import it
    import pyarrow as pa


@python_product("tenants")
def tenants(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "tenants")


def _from_tenant_databases(p: ProductContext, table: str) -> str:
    return all_tenants_sql(p.session, table, [c.name for c in p.product.columns])


@sql_product("tenant_customers")
def tenant_customers(p: ProductContext) -> str:
    return _from_tenant_databases(p, "customers")


@sql_product("tenant_products")
def tenant_products(p: ProductContext) -> str:
    return _from_tenant_databases(p, "products")


@sql_product("tenant_orders")
def tenant_orders(p: ProductContext) -> str:
    return _from_tenant_databases(p, "orders")
