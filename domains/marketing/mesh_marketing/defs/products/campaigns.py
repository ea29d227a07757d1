"""Marketing products: ad-service extracts landed with Arrow. Spend and attribution are SQL in
dbt (dbt_project/models/marketing/)."""

import pyarrow as pa
from platform_core.landing import read_landing

from platform_core import ProductContext, python_product


@python_product("campaigns")
def campaigns(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "campaigns")


@python_product("ad_spend")
def ad_spend(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "ad_spend")


@python_product("clicks")
def clicks(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "clicks")
