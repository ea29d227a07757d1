with months as (
    select tenant_id, billing_month from {{ ref('int_finance__monthly_gmv') }}
    union
    select tenant_id, billing_month from {{ ref('int_finance__monthly_ad_spend') }}
),
charges as (
    select
        m.tenant_id,
        m.billing_month,
        t.plan,
        cast(coalesce(r.gmv, 0) as numeric(14, 2)) as gmv,
        p.subscription_fee,
        cast(round(coalesce(r.gmv, 0) * p.take_rate, 2) as numeric(14, 2)) as transaction_fees,
        cast(coalesce(a.ad_spend, 0) as numeric(14, 2)) as ad_spend_rebilled
    from months as m
    join {{ source('platform', 'tenants') }} as t on t.tenant_id = m.tenant_id
    join {{ ref('int_finance__plan_pricing') }} as p on p.plan = t.plan
    left join {{ ref('int_finance__monthly_gmv') }} as r
        on r.tenant_id = m.tenant_id and r.billing_month = m.billing_month
    left join {{ ref('int_finance__monthly_ad_spend') }} as a
        on a.tenant_id = m.tenant_id and a.billing_month = m.billing_month
)
select
    cast(tenant_id as varchar) as tenant_id,
    cast(billing_month as date) as billing_month,
    cast(plan as varchar) as plan,
    gmv,
    cast(subscription_fee as numeric(14, 2)) as subscription_fee,
    transaction_fees,
    ad_spend_rebilled,
    cast(subscription_fee + transaction_fees + ad_spend_rebilled as numeric(14, 2)) as total_due
from charges
