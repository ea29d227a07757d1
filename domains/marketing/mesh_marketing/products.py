"""Marketing products: ad-service extracts landed with Arrow, attribution as warehouse SQL."""

import pyarrow as pa
from platform_core.sample_data import read_landing

from platform_core import ProductContext, python_product, sql_product

ATTRIBUTION_WINDOW = "7 days"


@python_product("campaigns")
def campaigns(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "campaigns")


@python_product("ad_spend")
def ad_spend(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "ad_spend")


@python_product("clicks")
def clicks(p: ProductContext) -> pa.Table:
    return read_landing(p.environment.landing_dir, "clicks")


@sql_product("campaign_spend")
def campaign_spend(p: ProductContext) -> str:
    return f"""
        select s.tenant_id, s.campaign_id, c.channel, s.spend_date, s.spend, s.impressions
        from {p.ref("marketing/ad_spend")} as s
        join {p.ref("marketing/campaigns")} as c on c.campaign_id = s.campaign_id
    """


@sql_product("revenue_attribution")
def revenue_attribution(p: ProductContext) -> str:
    return f"""
        with last_touch as (
            select o.tenant_id, o.order_id, o.amount, k.campaign_id
            from {p.ref("sales/orders")} as o
            join {p.ref("marketing/clicks")} as k
                on k.tenant_id = o.tenant_id
                and k.customer_id = o.customer_id
                and k.clicked_at <= o.ordered_at
                and k.clicked_at > o.ordered_at - interval '{ATTRIBUTION_WINDOW}'
            where o.status = 'completed'
            qualify row_number() over (
                partition by o.order_id order by k.clicked_at desc, k.click_id desc
            ) = 1
        ),
        attributed as (
            select tenant_id, campaign_id, count(*) as orders, sum(amount) as revenue
            from last_touch
            group by tenant_id, campaign_id
        ),
        spend as (
            select tenant_id, campaign_id, channel, sum(spend) as spend
            from {p.ref("marketing/campaign_spend")}
            group by tenant_id, campaign_id, channel
        )
        select
            s.tenant_id, s.campaign_id, s.channel,
            coalesce(a.orders, 0) as attributed_orders,
            cast(coalesce(a.revenue, 0) as decimal(14, 2)) as attributed_revenue,
            cast(s.spend as decimal(14, 2)) as spend,
            cast(case when s.spend > 0 then coalesce(a.revenue, 0) / s.spend end as double) as roas
        from spend as s
        left join attributed as a
            on a.tenant_id = s.tenant_id and a.campaign_id = s.campaign_id
    """
