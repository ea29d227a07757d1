select
    cast(s.tenant_id as varchar) as tenant_id,
    cast(s.campaign_id as bigint) as campaign_id,
    cast(c.channel as varchar) as channel,
    cast(s.spend_date as date) as spend_date,
    cast(s.spend as numeric(12, 2)) as spend,
    cast(s.impressions as bigint) as impressions
from {{ ref('stg_marketing__ad_spend') }} as s
join {{ ref('stg_marketing__campaigns') }} as c on c.campaign_id = s.campaign_id
