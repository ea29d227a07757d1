"""The marketing domain's code location: campaigns, spend, clicks and revenue attribution."""

from pathlib import Path

from mesh_marketing import products
from platform_core import build_domain_definitions

defs = build_domain_definitions(
    Path(__file__).with_name("products.yaml"),
    [
        products.campaigns,
        products.ad_spend,
        products.clicks,
        products.campaign_spend,
        products.revenue_attribution,
    ],
)
