select
    tenant_id,
    cast(date_trunc('month', spend_date) as date) as billing_month,
    sum(spend) as ad_spend
from {{ ref('campaign_spend') }}
group by tenant_id, cast(date_trunc('month', spend_date) as date)
