"""The marketing domain's code location: campaigns, spend, clicks and revenue attribution."""

from pathlib import Path

from platform_core.streaming import kafka_resource_from_env

from mesh_marketing import click_products, products
from mesh_marketing.streams import CLICKS
from platform_core import build_domain_definitions

defs = build_domain_definitions(
    Path(__file__).with_name("products.yaml"),
    [
        products.campaigns,
        products.ad_spend,
        products.clicks,
        CLICKS.product_implementation(),
        click_products.click_sessions,
        click_products.click_touchpoints,
    ],
    jobs=[CLICKS.job()],
    sensors=CLICKS.sensors(),
    resources={"kafka": kafka_resource_from_env()},
    dbt_group="marketing",
)
