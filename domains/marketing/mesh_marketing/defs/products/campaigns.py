"""Marketing products: ad-service extracts landed with Arrow. Spend and attribution are SQL in
dbt (dbt_project/models/marketing/)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from platform_core.landing import read_landing

from platform_core import ProductContext, python_product

if TYPE_CHECKING:  # pyarrow is the run's: the location's load does not import it
    import pyarrow as pa


@python_product("campaigns")
def campaigns(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "campaigns")


@python_product("ad_spend")
def ad_spend(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "ad_spend")


@python_product("clicks")
def clicks(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "clicks")
