select
    tenant_id,
    cast(date_trunc('month', order_date) as date) as billing_month,
    sum(revenue) as gmv
from {{ ref('daily_revenue') }}
group by tenant_id, cast(date_trunc('month', order_date) as date)
