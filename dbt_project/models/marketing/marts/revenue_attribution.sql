with attributed as (
    select tenant_id, campaign_id, count(*) as orders, sum(amount) as revenue
    from {{ ref('int_marketing__last_touch_orders') }}
    group by tenant_id, campaign_id
),
spend as (
    select tenant_id, campaign_id, channel, sum(spend) as spend
    from {{ ref('campaign_spend') }}
    group by tenant_id, campaign_id, channel
)
select
    cast(s.tenant_id as varchar) as tenant_id,
    cast(s.campaign_id as bigint) as campaign_id,
    cast(s.channel as varchar) as channel,
    cast(coalesce(a.orders, 0) as bigint) as attributed_orders,
    cast(coalesce(a.revenue, 0) as numeric(14, 2)) as attributed_revenue,
    cast(s.spend as numeric(14, 2)) as spend,
    cast(case when s.spend > 0 then coalesce(a.revenue, 0) / s.spend end as double) as roas
from spend as s
left join attributed as a
    on a.tenant_id = s.tenant_id and a.campaign_id = s.campaign_id
